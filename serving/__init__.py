"""Entrances: the REST API, the CLI (and later the bots). They translate identity and render output."""
