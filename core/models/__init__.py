"""Models built from packaged weights."""
