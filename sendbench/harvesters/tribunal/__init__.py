"""Harvesters for SEND tribunal appeal statistics (MoJ / DfE)."""
