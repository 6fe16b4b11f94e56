"""Vector index adapters: Qdrant Edge in-process (embedded default) and a Qdrant server by URL."""
