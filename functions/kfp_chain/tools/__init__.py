"""What the `kfp-chain` command does, one module a job; `cli.py` only parses options and calls these."""
