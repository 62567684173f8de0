"""Baselines and reviews: what the agent is measured against, and the review pages and CSV."""

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from governance import controls
from insights import metrics
from insights.models import Baseline, Review
from insights.reports import period_totals
from insights.rollups import day_bounds


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
