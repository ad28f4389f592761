"""Harvesters for OHID Fingertips (formerly PHE) child health indicators."""
