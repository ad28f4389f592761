"""Harvesters for NHS Digital publications: MHSDS, autism statistics, learning disability
health checks."""
