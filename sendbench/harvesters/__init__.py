"""Harvesters: one module per published dataset, on the shared base in ``base.py``.

A catalogue dataset's ``harvester`` names a module under this package (``dfe.ehcp`` is
``sendbench.harvesters.dfe.ehcp``); the module defines a ``Harvester`` class.
"""

from __future__ import annotations

import importlib

from sendbench.catalogue import Catalogue, Dataset
from sendbench.harvesters.base import BaseHarvester


def load_harvester(dataset: Dataset, catalogue: Catalogue) -> BaseHarvester:
    """Instantiate the harvester that the catalogue names for ``dataset``."""
    module = importlib.import_module(f"{__name__}.{dataset.harvester}")
    return module.Harvester(dataset, catalogue)
