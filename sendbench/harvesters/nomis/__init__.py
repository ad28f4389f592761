"""Harvesters for Nomis (ONS population estimates, DWP benefits)."""
