"""`python -m messaging_client`, the same as `.venv/bin/messaging`."""

from messaging_client.cli import main

raise SystemExit(main())
