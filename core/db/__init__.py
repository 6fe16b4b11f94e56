"""The relational source of truth: schema, engine and migrations."""
