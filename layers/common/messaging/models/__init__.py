"""Pydantic models: the single source of the API's shape, the configuration and the batch payloads."""
