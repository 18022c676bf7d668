"""RunConfigurations, claims, the watch index and Events in a Kubernetes cluster (the `kubernetes` client)."""
