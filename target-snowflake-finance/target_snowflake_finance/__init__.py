"""Singer target for Snowflake, built for finance data."""
