"""Credentials other than API keys: OIDC access tokens and local passwords."""
