"""Sillok core: domain types, ACL tokens, ports, errors, settings and shared adapters.

Nothing here imports web, queue or bot code.
"""
