"""Shared domain code of the messaging service (the Lambda layer's package)."""
