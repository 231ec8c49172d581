"""Singer tap for Epicor Kinetic finance data."""
