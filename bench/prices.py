"""AWS prices the cost estimate uses (bench/cost.py): us-east-1, on-demand, list prices without the
free tier, as published on each service's pricing page on the date below. Per unit, in US dollars.

A price change is one line here; PRICED_ON says when they were last checked."""

from __future__ import annotations

from typing import NamedTuple

PRICED_ON = "2026-12-06"
REGION = "us-east-1"


class Price(NamedTuple):
    dollars: float  # per `per` units
    per: int
    unit: str
    source: str


PRICES: dict[str, Price] = {
    # x86_64 (template.yaml's Architectures), the first 6 billion GB-seconds a month.
    "lambda_gb_s": Price(0.0000166667, 1, "GB-second", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_request": Price(0.20, 1_000_000, "request", "https://aws.amazon.com/lambda/pricing/"),
    # On-demand capacity, after the November 2024 reduction; an item up to 1 KB is one unit.
    "dynamodb_write": Price(
        0.625, 1_000_000, "write request unit", "https://aws.amazon.com/dynamodb/pricing/on-demand/"
    ),
    "dynamodb_read": Price(0.125, 1_000_000, "read request unit", "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
    "s3_put": Price(0.005, 1_000, "PUT, COPY, POST, LIST request", "https://aws.amazon.com/s3/pricing/"),
    "s3_get": Price(0.0004, 1_000, "GET request", "https://aws.amazon.com/s3/pricing/"),
    "eventbridge_event": Price(
        1.00, 1_000_000, "custom event published", "https://aws.amazon.com/eventbridge/pricing/"
    ),
    "scheduler_invocation": Price(
        1.00, 1_000_000, "schedule invocation", "https://aws.amazon.com/eventbridge/pricing/"
    ),
    # REST API (SendFunction's AWS::Serverless::Api), the first 333 million requests a month.
    "api_request": Price(3.50, 1_000_000, "REST API request", "https://aws.amazon.com/api-gateway/pricing/"),
}


def unit_price(name: str) -> float:
    """Dollars per single unit."""
    price = PRICES[name]
    return price.dollars / price.per
