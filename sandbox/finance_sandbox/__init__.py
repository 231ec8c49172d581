"""Local stand-ins for Epicor Kinetic and Snowflake."""

import os

# Clients of the local Snowflake (tests, demo, benchmarks) never probe cloud metadata endpoints
# (169.254.169.254) for the connector's login telemetry: only loopback is ever contacted here.
os.environ.setdefault("SNOWFLAKE_DISABLE_PLATFORM_DETECTION", "true")
# Nor ask the AWS instance metadata service for a region during PUT (connector 5's AWS SDK).
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
