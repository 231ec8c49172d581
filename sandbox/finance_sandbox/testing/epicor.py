"""Epicor emulator fixtures (filled by the emulator work)."""

__all__: list[str] = []
