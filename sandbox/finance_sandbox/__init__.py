"""Local stand-ins for Epicor Kinetic and Snowflake."""

import os

# Clients of the local Snowflake (tests, demo, benchmarks) never probe cloud metadata endpoints
# (169.254.169.254) for the connector's login telemetry: only loopback is ever contacted here.
os.environ.setdefault("SNOWFLAKE_DISABLE_PLATFORM_DETECTION", "true")
