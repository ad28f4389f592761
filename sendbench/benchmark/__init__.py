"""Benchmarking local authorities against statistical neighbours, region and England.

Pure functions over DataFrames live here; the database is touched only at the edges.
"""
