"""The benchmark engine: statistical-neighbour comparisons, ranks, bands, significance and trends
for every indicator, LA and period, the outcome scorecard, and inspection-ready exports.

Pure functions over DataFrames (``methods``, ``trend``, ``neighbours``, ``compare``, ``outcomes``)
with the database only at the edge (``store``); exports read the stored tables (``report``,
``render`` for table, CSV and JSON, ``xlsx`` for the workbook). Methods: ../shared/docs/DOMAIN.md
and the Methods sheet of the workbook.
"""
