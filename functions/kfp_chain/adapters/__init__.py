"""The edges of kfp-chain: the ports the flow depends on, and their implementations.

`ports` holds the small interfaces (a source of RunConfigurations, a ledger of claims and consumed
triggers, a launcher of runs, an index, a clock). Each subpackage implements them for one backend
and is the only code that talks to it: `kubernetes` (source, ledger, watch index, Events),
`folder` (YAML files and a SQLite ledger), `kfp` (a KFP API server through `kfp.Client`) and
`local` (KFP's local runner, for the one-machine default). Nothing here is imported for its side
effects; the flow modules import `ports` and nothing else from this package.
"""
