"""What the function tells operators: decision logs, Prometheus metrics, trace spans, log format."""
