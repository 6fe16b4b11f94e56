"""Connectors: keep the document registry in step with folders and intranet sites.

Each connector writes to a `DocumentSink` and takes its ACLs from prefix rules (`rules.acl_for`).
"""
