"""Epicor Kinetic REST v2 / OData v4 emulator."""
