"""The deployed functions' side of the flow: wiring the adapters, the HTTP answer, who may send, dead letters."""
