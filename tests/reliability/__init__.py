"""Reliability tests: faults, restarts and load against real processes."""
