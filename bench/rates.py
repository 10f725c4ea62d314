"""The paced channels' figures under `--rate` (bench/async_send.py): what the provider stand-ins
saw against the configured rate and their own limit (bench/limits.py)."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any


def pacing_rows(
    channels: list[str], args: argparse.Namespace, records: list[Any], measured: Any
) -> list[dict[str, Any]]:
    configured = rates(args.rate)
    limits = provider_rates(args)
    rows = []
    for channel in channels:
        if channel not in configured:
            continue
        counts = [record.channel_counts(channel) for record in records]
        messages = sum(c["sent"] + c["failed"] for c in counts)
        seen = measured.provider.get(channel, {})
        span = seen.get("span_s") or 0.0
        rate = configured[channel]
        rows.append(
            {
                "channel": channel,
                "sends": len(records),
                "configured": rate,
                "limit": limits.get(channel),
                "burst": seen.get("burst"),
                "messages": messages,
                "accepted": seen.get("accepted", 0),
                "achieved": seen.get("accepted", 0) / span if span else 0.0,
                "peak_second": seen.get("peak_second", 0),
                "throttled_per_1000": seen.get("throttled", 0) / max(messages, 1) * 1000,
                "failed_throttled": measured.failed_throttled.get(channel, 0),
                "failed": sum(c["failed"] for c in counts),
                "wall_s": measured.wall_s,
                "first_after_s": seen.get("first_after_s"),
                "late_slots": measured.late_slots,
                "handed_back": measured.handed_back,
                "lead_ms": measured.leads_ms.get(channel),
                "tail_s": seen.get("tail_s"),
                "ideal_s": messages / rate,
                "series": seen.get("series", []),
            }
        )
    return rows


def rate_lines(row: dict[str, Any]) -> list[str]:
    paced = row.get("rates") or []
    if not paced:
        return []
    lines = [
        "\nPaced channels (rates per second; the provider stand-in's limit and burst as it enforces them)\n",
        "| channel | sends at once | configured | provider limit (+burst) | messages | achieved | achieved/configured "
        "| achieved/limit | peak second | peak/configured | throttled per 1000 | failed for throttling | failed "
        "| wall s | N/rate s | wall/(N/rate) | first message after s | after the last s |",
        "|" + "---|" * 18,
    ]
    for r in paced:
        limit = r["limit"] or r["configured"]
        lines.append(
            f"| {r['channel']} | {r['sends']} | {r['configured']:g} | {limit:g} (+{r['burst'] or 0:g}) "
            f"| {r['messages']} "
            f"| {r['achieved']:.1f} | {r['achieved'] / r['configured']:.1%} | {r['achieved'] / limit:.1%} "
            f"| {r['peak_second']} | {r['peak_second'] / r['configured']:.1%} | {r['throttled_per_1000']:.1f} "
            f"| {r['failed_throttled']} | {r['failed']} | {r['wall_s']:.1f} | {r['ideal_s']:.1f} "
            f"| {r['wall_s'] / r['ideal_s']:.3f} | {r['first_after_s'] or 0:.1f} | {r['tail_s'] or 0:.1f} |"
        )
    for r in paced:
        whole = r["series"][1:-1]  # the first and last seconds are partial
        over = [count for count in whole if count > r["configured"] * 1.05]
        lines.append(
            f"\n{r['channel']}: {len(over)} of {len(whole)} whole seconds over 105 % of the configured rate"
            + (f" ({', '.join(str(count) for count in sorted(over, reverse=True)[:10])})" if over else "")
            + f"; {r['late_slots']} slots given up, their batch late"
            + f"; {r['handed_back'][0]} batches ({r['handed_back'][1]} messages) handed back late and paced again"
            + f"; invoked {r['lead_ms'] or 0:.0f} ms ahead of their slot at the end"
        )
        if whole:  # the busiest second among its neighbours: a shift between seconds, or a burst
            peak = max(range(len(whole)), key=whole.__getitem__)
            lines.append(
                f"the busiest second, {peak + 1} s in, and its neighbours: {whole[max(0, peak - 3) : peak + 4]}"
            )
    return lines


def failed_for_throttling(app: Any, send_ids: list[str]) -> dict[str, int]:
    from messaging.sends.batches import is_throttled

    failed: Counter[str] = Counter()
    for send_id in send_ids:
        token: str | None = None
        while True:
            page, token = app.sends.failures.page(send_id, 1000, token)
            failed.update(failure.channel for failure in page if is_throttled(failure.error))
            if not token:
                break
    return dict(failed)


def rates(text: str | None) -> dict[str, float]:
    """`email=200,sms=50` -> {"email": 200.0, "sms": 50.0}"""
    pairs = (pair.split("=", 1) for pair in (text or "").split(",") if pair)
    return {channel.strip(): float(rate) for channel, rate in pairs}


def provider_rates(args: argparse.Namespace) -> dict[str, float]:
    """The stand-ins' own limits: --provider-rate where given, else the configured --rate."""
    return {**rates(args.rate), **rates(args.provider_rate)}
