-- wrk script: POST binary-mode run-completion CloudEvents.
--   wrk ... -s bench/event.lua -- <nodeps|trigger|burst> <nonce> <emitters> <template dir>
-- The event is kfp_chain.completion_event's (the one builder of run-completion events): bench/run.py
-- writes its headers and body to <template dir>/headers and /body with @EMITTER@ and @RUN@ in them,
-- and each request fills those in.
-- nodeps:  emitters team/lonely-* that nobody depends on
-- trigger: emitters team/upstream-*, each with one dependent; every runId is unique, so every
--          event starts a run (nonce keeps runIds unique across wrk runs)
-- burst:   every event from team/upstream-00, so every run is started for one dependent
--          (team/down-00): a busy upstream, or a burst of redelivered successes
local threads = {}
local counter = 0
-- `id` is a global on purpose: setup() sets it in each thread's own Lua state with thread:set, which
-- a `local id` here would shadow (then every thread sent the same runIds: half the "triggering"
-- events were duplicates of another thread's)
local mode, nonce, emitters = "nodeps", "x", 50
local template_headers, template_body = {}, ""

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function read(path)
  local file = assert(io.open(path, "r"))
  local text = file:read("*a")
  file:close()
  return text
end

function init(args)
  mode = args[1] or mode
  nonce = args[2] or nonce
  emitters = tonumber(args[3] or emitters)
  local dir = assert(args[4], "the template directory bench/run.py writes")
  for line in read(dir .. "/headers"):gmatch("[^\n]+") do
    local name, value = line:match("^([^:]+): (.*)$")
    template_headers[name] = value
  end
  template_body = read(dir .. "/body")
end

local function fill(text, emitter, run)
  return (text:gsub("@EMITTER@", emitter):gsub("@RUN@", run))
end

function request()
  counter = counter + 1
  local i = counter % emitters
  local emitter
  if mode == "trigger" then
    emitter = string.format("team/upstream-%02d", i)
  elseif mode == "burst" then
    emitter = "team/upstream-00"
  else
    emitter = string.format("team/lonely-%06d", i)
  end
  local run = string.format("%s-%d-%d", nonce, id or 0, counter)
  local headers = {}
  for name, value in pairs(template_headers) do
    headers[name] = fill(value, emitter, run)
  end
  local body = fill(template_body, emitter, run)
  return wrk.format("POST", "/", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
