"""The database: schema (``schema.py``), atomic loading (``load.py``), serving (``serve.py``)."""
