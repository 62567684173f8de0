"""What the managers' pages show (selectors over rollups) and the baseline and review services.

Every selector reads ``DailyRollup`` rows, never tickets: one query per page section, whatever the
number of tickets.
"""

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from insights import charts, metrics
from insights.models import Alert, DailyRollup, DriftCheck

TREND_METRICS = ("autonomous_rate", "escalation_rate", "error_rate")


def _rows(start: date, end: date) -> list[dict[str, Any]]:
    """Rollup rows for [start, end], inclusive: one query."""
    rows = DailyRollup.objects.filter(day__gte=start, day__lte=end)
    return list(rows.values(*metrics.ROLLUP_FIELDS, "built_at"))


def period_totals(start: date, end: date) -> metrics.Totals:
    return metrics.totals(_rows(start, end), days=(end - start).days + 1)


def metric_cards(t: metrics.Totals) -> list[dict[str, Any]]:
    cards = []
    for metric in metrics.METRICS:
        value = metric.value(t)
        band = metrics.tolerance_band(metric.code)
        outside = band is not None and value is not None and not band[0] <= value <= band[1]
        cards.append(
            {
                "metric": metric,
                "value": value,
                "display": metrics.formatted(value, metric.unit),
                "band": f"{metrics.formatted(band[0], 'rate')}-{metrics.formatted(band[1], 'rate')}"
                if band
                else "",
                "outside": outside,
            }
        )
    return cards


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _grouped(rows: list[dict[str, Any]], key: str) -> dict[Any, metrics.Totals]:
    groups: dict[Any, metrics.Totals] = defaultdict(metrics.Totals)
    for row in rows:
        k = _week_start(row["day"]) if key == "week" else row[key]
        groups[k].add(row)
    return groups


def _trend_chart(
    code: str, labels: list[str], groups: list[metrics.Totals], title: str, width: int = 720
) -> Any:
    metric = metrics.METRICS_BY_CODE[code]
    return charts.line_chart(
        title=title,
        labels=labels,
        series=[charts.Series(metric.label, [metric.value(t) for t in groups])],
        unit=metric.unit,
        band=metrics.tolerance_band(code),
        width=width,
    )


def _slice_table(rows: list[dict[str, Any]], key: str, days: int) -> list[dict[str, Any]]:
    table = []
    for name, t in sorted(_grouped(rows, key).items(), key=lambda item: -item[1].tickets):
        t.days = days
        table.append(
            {
                "name": name or "(none)",
                "tickets": t.tickets,
                "autonomous_rate": metrics.formatted(
                    metrics.METRICS_BY_CODE["autonomous_rate"].value(t), "rate"
                ),
                "escalation_rate": metrics.formatted(
                    metrics.METRICS_BY_CODE["escalation_rate"].value(t), "rate"
                ),
                "error_rate": metrics.formatted(metrics.METRICS_BY_CODE["error_rate"].value(t), "rate"),
                "approval_rate": metrics.formatted(metrics.METRICS_BY_CODE["approval_rate"].value(t), "rate"),
                "cycle_p50": metrics.formatted(metrics.cycle_percentile(t, 50), "hours"),
                "totals": t,
            }
        )
    return table


def _weekly_by(rows: list[dict[str, Any]], key: str, weeks: list[date], code: str) -> Any:
    """One line per action (or queue): weekly values of ``code``, the band drawn when it has one."""
    cells: dict[Any, dict[date, metrics.Totals]] = defaultdict(lambda: defaultdict(metrics.Totals))
    for row in rows:
        cells[row[key] or "(none)"][_week_start(row["day"])].add(row)
    metric = metrics.METRICS_BY_CODE[code]
    ranked = sorted(cells, key=lambda name: -sum(t.tickets for t in cells[name].values()))[:6]
    series = [
        charts.Series(name, [metric.value(cells[name][w]) if w in cells[name] else None for w in weeks])
        for name in ranked
    ]
    return charts.line_chart(
        title=f"{metric.label} by {key}, weekly",
        labels=[w.strftime("%d %b") for w in weeks],
        series=series,
        unit=metric.unit,
        band=metrics.tolerance_band(code),
    )


def dashboard_data(*, days: int = 56, today: date | None = None) -> dict[str, Any]:
    """The dashboard from rollups: one query, whatever the number of tickets."""
    end = today or timezone.localdate()
    start = end - timedelta(days=days - 1)
    rows = _rows(start, end)
    t = metrics.totals(rows, days=days)
    daily = _grouped(rows, "day")
    day_list = [start + timedelta(days=i) for i in range(days)]
    daily_totals = [daily.get(d, metrics.Totals()) for d in day_list]
    weekly = _grouped(rows, "week")
    weeks = sorted({_week_start(d) for d in day_list})
    weekly_totals = [weekly.get(w, metrics.Totals()) for w in weeks]
    day_labels = [d.strftime("%d %b") for d in day_list]
    week_labels = [w.strftime("%d %b") for w in weeks]
    volume = charts.line_chart(
        title="Tickets per day",
        labels=day_labels,
        series=[
            charts.Series("All tickets", [x.tickets for x in daily_totals]),
            charts.Series("Resolved autonomously", [x.autonomous for x in daily_totals]),
            charts.Series("Escalated", [x.escalated for x in daily_totals]),
        ],
        unit="count",
    )
    return {
        "start": start,
        "end": end,
        "days": days,
        "built_at": max((row["built_at"] for row in rows), default=None),
        "rebuild_minutes": settings.ROLLUP_REBUILD_MINUTES,
        "cards": metric_cards(t),
        "rules": metrics.TICKET_RULES,
        "volume_chart": volume,
        "daily_autonomous_chart": _trend_chart(
            "autonomous_rate", day_labels, daily_totals, "Autonomous rate, daily"
        ),
        "weekly_error_chart": _trend_chart(
            "error_rate", week_labels, weekly_totals, "Error rate, weekly", width=480
        ),
        "weekly_escalation_chart": _trend_chart(
            "escalation_rate", week_labels, weekly_totals, "Escalation rate, weekly", width=480
        ),
        "action_escalation_chart": _weekly_by(rows, "action", weeks, "escalation_rate"),
        "queue_volume_chart": _weekly_by(rows, "queue", weeks, "volume"),
        "action_error_chart": _weekly_by(rows, "action", weeks, "error_rate"),
        "by_action": _slice_table(rows, "action", days),
        "by_queue": _slice_table(rows, "queue", days),
        "resolver_chart": charts.bar_chart(
            title="Cycle time by resolver (hours)",
            width=420,
            rows=[
                ("agent p50", metrics.cycle_percentile(t, 50, "agent")),
                ("agent p90", metrics.cycle_percentile(t, 90, "agent")),
                ("staff p50", metrics.cycle_percentile(t, 50, "staff")),
                ("staff p90", metrics.cycle_percentile(t, 90, "staff")),
            ],
            unit="hours",
        ),
    }


def monitoring_data() -> dict[str, Any]:
    """Recent alerts and the latest drift check per dimension: two queries."""
    alerts = list(Alert.objects.select_related("acknowledged_by")[:50])
    latest: dict[str, DriftCheck] = {}
    for check in DriftCheck.objects.order_by("-created_at", "-id")[:30]:
        latest.setdefault(check.dimension, check)
    drift = []
    for dimension, check in sorted(latest.items()):
        reference, current = check.data.get("reference", {}), check.data.get("current", {})
        ref_total, cur_total = sum(reference.values()) or 1, sum(current.values()) or 1
        bins = sorted(set(reference) | set(current))
        drift.append(
            {
                "check": check,
                "chart": charts.bar_chart(
                    title=f"{dimension}: share last week",
                    rows=[(b, current.get(b, 0) / cur_total) for b in bins][:12],
                    unit="rate",
                    width=420,
                ),
                "rows": [
                    {
                        "bin": b,
                        "reference": reference.get(b, 0) / ref_total,
                        "current": current.get(b, 0) / cur_total,
                    }
                    for b in bins
                ],
            }
        )
    return {"alerts": alerts, "open": sum(a.acknowledged_at is None for a in alerts), "drift": drift}
