"""Runs started on a KFP API server through `kfp.Client`."""
