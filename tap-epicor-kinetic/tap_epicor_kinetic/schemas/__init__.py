"""Bundled JSON schemas, one per stream."""
