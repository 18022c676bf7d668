"""The one-machine demos behind `make demo` and `make demo-ensemble`: the function and KFP's local runner, no cluster."""
