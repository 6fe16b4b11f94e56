"""Document parsers: one registry that picks a reader by file type and explains every failure."""
