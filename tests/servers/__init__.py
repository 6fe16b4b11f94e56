"""Scripted servers that other tests run on localhost."""
