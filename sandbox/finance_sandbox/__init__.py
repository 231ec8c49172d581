"""Local stand-ins for Epicor Kinetic and Snowflake."""
