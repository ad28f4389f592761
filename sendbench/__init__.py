"""sendbench: national SEND statistics for local areas in England, harvested and benchmarked.

The package harvests published datasets (DfE, OHID Fingertips, NHS Digital, MoJ, Nomis) into one
SQLite database, benchmarks every local authority against its statistical neighbours, region and
England, and serves the result with Datasette. From Python: ``sendbench.open(path)`` returns
the database, whose methods return pandas DataFrames (:mod:`sendbench.api`).
"""

__version__ = "0.1.0"

__all__ = ["Database", "__version__", "open"]


def __getattr__(name: str):
    """``sendbench.open`` and ``sendbench.Database`` (sendbench.api), imported when first used so
    that the command line starts without pandas."""
    if name in ("open", "Database"):
        from sendbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'sendbench' has no attribute {name!r}")
