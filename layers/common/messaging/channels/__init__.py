"""Provider adapters: each sends one batch and maps the provider's errors to per-user failures."""
