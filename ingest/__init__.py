"""Ingestion: parsers, chunking and the idempotent pipeline from a file to indexed chunks."""
