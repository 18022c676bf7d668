"""Runs executed on this machine by KFP's local runner (`kfp.local`), for the one-machine default."""
