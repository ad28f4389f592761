"""Harvesters for NHS England statistics: community health services waiting lists."""
