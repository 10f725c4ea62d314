"""`messaging`, the service's command-line client (docs/api.md, "The command-line client"): installed into
.venv by `make venv`, never into the Lambda layer."""
