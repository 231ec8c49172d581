"""Local Snowflake fixtures (filled by the Snowflake sandbox work)."""

__all__: list[str] = []
