"""Test suite. What Lambda sets before a function's code loads is set here, before any import."""

import os

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "messaging")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Messaging")
