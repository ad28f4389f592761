"""Harvesters for NHS Digital publications (MHSDS, learning disability health checks)."""
