"""Schemas and leak checks: prove the forget/retain splits leak-free."""
