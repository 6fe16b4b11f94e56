"""Retrieval: ACL-filtered search, grounded prompts, the LLM client and the answer service."""
