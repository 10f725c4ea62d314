"""The one Logger every module logs through (service name from POWERTOOLS_SERVICE_NAME).

Log lines carry user ids and counts only: never addresses, numbers, tokens or message texts.
"""

from aws_lambda_powertools import Logger

logger = Logger()
