"""RunConfigurations from a folder of YAML files, and the exactly-once ledger in SQLite."""
