"""Every figure the managers' pages show, defined once: the definition people read and the function
that computes it from daily rollups (``DailyRollup``) live side by side here.

Functions take ``Totals`` (rollup rows summed over a period and a slice), never tickets, so a page
costs the same with ten thousand or a million tickets behind it. ``insights.rollups`` turns tickets
into rollups using the per-ticket rules stated in ``TICKET_RULES``.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

COUNT_FIELDS = (
    "tickets",
    "autonomous",
    "escalated",
    "agent_resolved",
    "agent_errors",
    "approvals_requested",
    "approvals_decided",
    "approvals_granted",
    "resolved",
    "errors",
    "cycle_seconds_sum",
    "staff_seconds",
)
ROLLUP_FIELDS = ("day", "queue", "action", "resolver", *COUNT_FIELDS, "cycle_sample")

# How a single ticket is classified when rollups are built (insights/rollups.py applies these).
TICKET_RULES: dict[str, str] = {
    "day": "The day the ticket was created (every figure follows the ticket's creation day).",
    "action": "The catalog action of its first execution, else of its first approval request, else none.",
    "agent_resolved": "Its first resolution was made by the agent.",
    "autonomous": "Agent-resolved with no human step at all: no approval request, and no status "
    "change or comment by service-desk staff (a reopened ticket that staff then handled is not).",
    "escalated": "It was handed to a human queue at least once (a change to 'escalated').",
    "agent_error": "Agent-resolved, then reopened within REOPEN_WINDOW_DAYS (7) of that resolution, "
    "or marked wrong by service-desk staff.",
    "error": "Resolved (by anyone), then reopened within 7 days of its first resolution, or marked wrong "
    "by staff. The reviews use this workflow-wide rate: the baseline has no agent-resolved tickets.",
    "cycle_time": "Creation to first resolution.",
    "staff_time": "Handling time recorded on the ticket when the service desk records one; otherwise "
    "the time between a staff member taking the ticket (to 'in progress') and its next status change, "
    "each stretch capped at 8 hours.",
}


@dataclass
class Totals:
    """Rollup rows summed: counts, sums, and the merged sorted cycle-time sample."""

    tickets: int = 0
    autonomous: int = 0
    escalated: int = 0
    agent_resolved: int = 0
    agent_errors: int = 0
    approvals_requested: int = 0
    approvals_decided: int = 0
    approvals_granted: int = 0
    resolved: int = 0
    errors: int = 0
    cycle_seconds_sum: int = 0
    staff_seconds: int = 0
    days: int = 1
    samples: dict[str, list[int]] = field(default_factory=dict)  # resolver -> cycle seconds

    def add(self, row: dict[str, Any]) -> None:
        for name in COUNT_FIELDS:
            setattr(self, name, getattr(self, name) + int(row[name] or 0))
        if row.get("cycle_sample"):
            self.samples.setdefault(row["resolver"] or "", []).extend(row["cycle_sample"])


def totals(rows: Iterable[dict[str, Any]], *, days: int = 1) -> Totals:
    result = Totals(days=max(days, 1))
    for row in rows:
        result.add(row)
    return result


def ratio(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator


def percentile(values: list[int], q: float) -> int | None:
    """Nearest-rank percentile: the smallest value with at least q% of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def cycle_percentile(t: Totals, q: float, resolver: str | None = None) -> float | None:
    """Hours; ``resolver`` None pools agent and staff."""
    if resolver is None:
        values = [v for key, sample in t.samples.items() if key for v in sample]
    else:
        values = t.samples.get(resolver, [])
    seconds = percentile(values, q)
    return None if seconds is None else seconds / 3600


def staff_hours(t: Totals) -> float:
    return t.staff_seconds / 3600


def cost_per_ticket(t: Totals) -> float | None:
    return ratio(staff_hours(t) * float(settings.STAFF_HOURLY_COST_USD), t.tickets)


@dataclass(frozen=True)
class Metric:
    code: str
    label: str
    definition: str
    unit: str  # rate | count | hours | usd
    compute: Callable[[Totals], float | None]
    band: str = ""  # the key of a tolerance band in settings.METRIC_TOLERANCE_BANDS

    def value(self, t: Totals) -> float | None:
        return self.compute(t)


METRICS: list[Metric] = [
    Metric("volume", "Volume", "Tickets created in the period.", "count", lambda t: t.tickets),
    Metric(
        "autonomous_rate",
        "Autonomous resolution rate",
        "Tickets resolved by the agent with no human step / all tickets created.",
        "rate",
        lambda t: ratio(t.autonomous, t.tickets),
    ),
    Metric(
        "escalation_rate",
        "Escalation rate",
        "Tickets handed to a human queue at least once / all tickets created.",
        "rate",
        lambda t: ratio(t.escalated, t.tickets),
        band="escalation_rate",
    ),
    Metric(
        "approval_rate",
        "Approval rate",
        "Approval requests granted / approval requests decided (granted, declined or expired).",
        "rate",
        lambda t: ratio(t.approvals_granted, t.approvals_decided),
    ),
    Metric(
        "error_rate",
        "Error rate",
        "Agent-resolved tickets reopened within 7 days of the agent's resolution, or marked wrong by "
        "staff / agent-resolved tickets.",
        "rate",
        lambda t: ratio(t.agent_errors, t.agent_resolved),
        band="error_rate",
    ),
    Metric(
        "cycle_p50_agent",
        "Cycle time p50, agent",
        "Median hours from creation to first resolution, tickets resolved by the agent (nearest rank).",
        "hours",
        lambda t: cycle_percentile(t, 50, "agent"),
    ),
    Metric(
        "cycle_p90_agent",
        "Cycle time p90, agent",
        "90th-percentile hours from creation to first resolution, tickets resolved by the agent.",
        "hours",
        lambda t: cycle_percentile(t, 90, "agent"),
    ),
    Metric(
        "cycle_p50_staff",
        "Cycle time p50, staff",
        "Median hours from creation to first resolution, tickets resolved by service-desk staff.",
        "hours",
        lambda t: cycle_percentile(t, 50, "staff"),
    ),
    Metric(
        "cycle_p90_staff",
        "Cycle time p90, staff",
        "90th-percentile hours from creation to first resolution, tickets resolved by staff.",
        "hours",
        lambda t: cycle_percentile(t, 90, "staff"),
    ),
    Metric(
        "staff_hours",
        "Staff hours",
        "Service-desk handling hours on the period's tickets (see the staff-time rule below).",
        "hours",
        staff_hours,
    ),
    Metric(
        "cost_per_ticket",
        "Cost per ticket",
        "Staff hours x the hourly cost (STAFF_HOURLY_COST_USD) / tickets created.",
        "usd",
        cost_per_ticket,
    ),
]
METRICS_BY_CODE = {metric.code: metric for metric in METRICS}

# The four review metrics (phase 1 baseline, phase 3 pilot review, phase 4 quarterly review).
REVIEW_METRICS: list[tuple[str, str, str]] = [
    ("cycle_time_hours", "Cycle time (p50, hours)", "Median hours from creation to first resolution."),
    (
        "error_rate",
        "Error rate (all resolvers)",
        "Resolved tickets reopened within 7 days or marked wrong / resolved tickets.",
    ),
    ("staff_hours_monthly", "Staff hours per 30 days", "Service-desk handling hours, scaled to 30 days."),
    ("escalation_rate", "Escalation rate", METRICS_BY_CODE["escalation_rate"].definition),
]


def review_figures(t: Totals) -> dict[str, float | None]:
    """A period's review figures. The error rate here counts every resolver, so a baseline from before
    the agent (no agent-resolved tickets) and a pilot compare like with like."""
    scale = 30 / t.days
    return {
        "monthly_volume": t.tickets * scale,
        "cycle_time_hours": cycle_percentile(t, 50),
        "error_rate": ratio(t.errors, t.resolved),
        "staff_hours_monthly": staff_hours(t) * scale,
        "escalation_rate": ratio(t.escalated, t.tickets),
    }


def tolerance_band(metric_code: str) -> tuple[float, float] | None:
    metric = METRICS_BY_CODE.get(metric_code)
    if metric is None or not metric.band:
        return None
    low, high = settings.METRIC_TOLERANCE_BANDS[metric.band]
    return float(low), float(high)


def formatted(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "rate":
        return f"{value * 100:.1f}%"
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "usd":
        return f"${value:,.2f}"
    if 0 < value < 1:
        return f"{value * 60:.0f} min"
    return f"{value:,.1f} h"


# Shown on the dashboard next to the rollup metrics; computed from the audit trail by
# ``governance.modes.shadow_agreement`` (shadow mode decides but executes nothing, so no rollup has it).
SHADOW_AGREEMENT_LABEL = "Shadow agreement"
SHADOW_AGREEMENT_DEFINITION = (
    "Shadow-mode decisions to act (execute or approval) on tickets staff then resolved: the share where "
    "staff carried out exactly that action (same action, parameters and requester). Escalations not counted."
)
