"""Harvesters for Department for Education publications (Explore Education Statistics, GOV.UK)."""
