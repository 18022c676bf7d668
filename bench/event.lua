-- wrk script: POST binary-mode run-completion CloudEvents.
--   wrk ... -s bench/event.lua -- <nodeps|trigger> <nonce> <emitters>
-- nodeps:  emitters team/lonely-* that nobody depends on
-- trigger: emitters team/upstream-*, each with one dependent; every runId is unique, so every
--          event starts a run (nonce keeps runIds unique across wrk runs)
local threads = {}
local counter = 0
local id = 0
local mode, nonce, emitters = "nodeps", "x", 50

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or mode
  nonce = args[2] or nonce
  emitters = tonumber(args[3] or emitters)
end

function request()
  counter = counter + 1
  local i = counter % emitters
  local emitter
  if mode == "trigger" then
    emitter = string.format("team/upstream-%02d", i)
  else
    emitter = string.format("team/lonely-%06d", i)
  end
  local run = string.format("%s-%d-%d", nonce, id, counter)
  local body = '{"status":"succeeded","runConfigurationName":"' .. emitter ..
    '","pipelineName":"team/pipe","runId":"' .. run .. '","runName":"run-' .. run ..
    '","artifacts":[{"name":"model","location":"gs://bucket/' .. run .. '/model"}],' ..
    '"provider":"kfp","runStartTime":"2026-11-25T10:00:00Z","runEndTime":"2026-11-25T10:05:00Z"}'
  local headers = {
    ["Content-Type"] = "application/json",
    ["ce-specversion"] = "1.0",
    ["ce-type"] = "org.kubeflow.pipelines.run-completion",
    ["ce-source"] = "kfp-operator/bench",
    ["ce-id"] = run,
  }
  return wrk.format("POST", "/", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
