"""What the managers' pages show (selectors over rollups) and the baseline and review services.

Every selector reads ``DailyRollup`` rows, never tickets: one query per page section, whatever the
number of tickets.
"""

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from governance import charts, controls, metrics
from governance.audit import audit_record
from governance.models import Alert, Baseline, DailyRollup, DriftCheck, Review
from governance.rollups import day_bounds

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


# Baselines and reviews ----------------------------------------------------------------------------


def _require_manager(user: User) -> None:
    if not controls.can_control_agent(user):
        raise PermissionDenied("Only managers record baselines and reviews.")


@transaction.atomic
def baseline_compute(*, by: User, name: str, start: date, end: date) -> Baseline:
    """Phase 1 from a chosen period of tickets (through the rollups)."""
    _require_manager(by)
    if end < start:
        raise ValueError("The period ends before it starts.")
    figures = metrics.review_figures(period_totals(start, end))
    baseline = Baseline.objects.create(
        name=name,
        source=Baseline.Source.COMPUTED,
        period_start=start,
        period_end=end,
        monthly_volume=figures["monthly_volume"] or 0.0,
        cycle_time_hours=figures["cycle_time_hours"] or 0.0,
        error_rate=figures["error_rate"] or 0.0,
        staff_hours_monthly=figures["staff_hours_monthly"] or 0.0,
        escalation_rate=figures["escalation_rate"] or 0.0,
        created_by=by,
    )
    _audit_baseline(baseline, by)
    return baseline


@transaction.atomic
def baseline_enter(*, by: User, name: str, figures: dict[str, float], notes: str = "") -> Baseline:
    """Phase 1 entered by hand (measured before this system existed)."""
    _require_manager(by)
    baseline = Baseline.objects.create(
        name=name, source=Baseline.Source.MANUAL, notes=notes, created_by=by, **figures
    )
    _audit_baseline(baseline, by)
    return baseline


def _audit_baseline(baseline: Baseline, by: User) -> None:
    audit_record(
        code="baseline.recorded",
        actor_kind="user",
        actor=by,
        data={"baseline": baseline.pk, "name": baseline.name, "source": baseline.source},
    )


@transaction.atomic
def review_plan(
    *,
    by: User,
    kind: str,
    name: str,
    baseline: Baseline,
    start: date,
    end: date,
    thresholds: dict[str, float],
) -> Review:
    """Fix a review's period and thresholds. They are never edited afterwards; plan a new review."""
    _require_manager(by)
    if end < start:
        raise ValueError("The period ends before it starts.")
    review = Review.objects.create(
        kind=kind,
        name=name,
        baseline=baseline,
        period_start=start,
        period_end=end,
        created_by=by,
        **thresholds,
    )
    review.refresh_from_db(fields=["thresholds_set_at"])
    audit_record(
        code="review.planned",
        actor_kind="user",
        actor=by,
        data={
            "review": review.pk,
            "kind": kind,
            "baseline": baseline.pk,
            "thresholds": thresholds,
            "period": [start.isoformat(), end.isoformat()],
        },
    )
    return review


@dataclass(frozen=True)
class Check:
    code: str
    label: str
    definition: str
    baseline: float | None
    actual: float | None
    limit: float | None
    limit_text: str
    passed: bool
    reason: str

    @property
    def baseline_text(self) -> str:
        return _fmt(self.code, self.baseline)

    @property
    def actual_text(self) -> str:
        return _fmt(self.code, self.actual)

    @property
    def limit_value_text(self) -> str:
        return _fmt(self.code, self.limit)


def _fmt(code: str, value: float | None) -> str:
    unit = "rate" if code.endswith("rate") else "hours"
    return metrics.formatted(value, unit)


def _check(code: str, actual: float | None, base: float, limit: float, limit_text: str) -> Check:
    label, definition = next((lbl, d) for c, lbl, d in metrics.REVIEW_METRICS if c == code)
    if actual is None:
        return Check(
            code, label, definition, base, None, limit, limit_text, False, f"{label}: no data in the period"
        )
    passed = actual <= limit + 1e-12
    verb = "meets" if passed else "misses"
    reason = f"{label} {_fmt(code, actual)} {verb} the threshold {limit_text} ({_fmt(code, limit)})"
    return Check(code, label, definition, base, actual, limit, limit_text, passed, reason)


def review_data(review: Review, *, today: date | None = None) -> dict[str, Any]:
    """Go when every metric meets its threshold, the thresholds predate the period, and it has ended."""
    today = today or timezone.localdate()
    base = review.baseline
    figures = metrics.review_figures(period_totals(review.period_start, review.period_end))
    checks = [
        _check(
            "cycle_time_hours",
            figures["cycle_time_hours"],
            base.cycle_time_hours,
            base.cycle_time_hours * review.max_cycle_time_ratio,
            f"<= {review.max_cycle_time_ratio:g} x baseline",
        ),
        _check(
            "error_rate",
            figures["error_rate"],
            base.error_rate,
            review.max_error_rate,
            f"<= {review.max_error_rate:.1%}",
        ),
        _check(
            "staff_hours_monthly",
            figures["staff_hours_monthly"],
            base.staff_hours_monthly,
            base.staff_hours_monthly * review.max_staff_hours_ratio,
            f"<= {review.max_staff_hours_ratio:g} x baseline",
        ),
        _check(
            "escalation_rate",
            figures["escalation_rate"],
            base.escalation_rate,
            review.max_escalation_rate,
            f"<= {review.max_escalation_rate:.1%}",
        ),
    ]
    reasons = [c.reason for c in checks]
    blockers = [c.reason for c in checks if not c.passed]
    period_start_at, _ = day_bounds(review.period_start)
    if review.thresholds_set_at >= period_start_at:
        blockers.append("The thresholds were set after the period started; plan the review before it starts.")
    if review.period_end >= today:
        blockers.append(f"The period runs until {review.period_end:%d %b %Y}; the verdict is provisional.")
    return {
        "review": review,
        "baseline": base,
        "figures": figures,
        "checks": checks,
        "go": not blockers,
        "reasons": reasons,
        "blockers": blockers,
        "volume": figures["monthly_volume"],
    }


def review_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    review = data["review"]
    writer.writerow(
        ["review", review.name, review.get_kind_display(), review.period_start, review.period_end]
    )
    writer.writerow(["baseline", data["baseline"].name, data["baseline"].get_source_display()])
    writer.writerow(["verdict", "go" if data["go"] else "no-go"])
    writer.writerow(["metric", "baseline", "actual", "threshold", "limit", "passed"])
    for check in data["checks"]:
        writer.writerow(
            [
                check.label,
                "" if check.baseline is None else round(check.baseline, 4),
                "" if check.actual is None else round(check.actual, 4),
                check.limit_text,
                "" if check.limit is None else round(check.limit, 4),
                "yes" if check.passed else "no",
            ]
        )
    for reason in data["blockers"]:
        writer.writerow(["blocker", reason])
    return out.getvalue()


def quarter_bounds(day: date) -> tuple[date, date]:
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = date(day.year, first_month, 1)
    end_month = first_month + 3
    end = date(day.year + (end_month > 12), (end_month - 1) % 12 + 1, 1) - timedelta(days=1)
    return start, end


def aware(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
