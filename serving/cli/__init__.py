"""The `sillok` command line."""
