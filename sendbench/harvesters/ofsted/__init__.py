"""Ofsted (with the Care Quality Commission): inspection outcomes."""
