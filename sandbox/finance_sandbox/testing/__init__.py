"""Helpers that start sandbox servers for tests."""
