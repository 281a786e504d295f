"""Purchases marked succeeded without an authorization code, found by an invariant: see README.md here."""
