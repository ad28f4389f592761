"""sendbench: national SEND statistics for local areas in England, harvested and benchmarked.

The package harvests published datasets (DfE, OHID Fingertips, NHS Digital, MoJ, Nomis) into one
SQLite database, benchmarks every local authority against its statistical neighbours, region and
England, and serves the result with Datasette.
"""

__version__ = "0.1.0"
