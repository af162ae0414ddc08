"""Probes as Chaos Toolkit activities: steady-state, recovery and guard checks."""
