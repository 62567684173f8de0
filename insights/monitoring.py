"""Monitoring: tolerance bands on weekly rates, anomaly rules on action rates, and the alerts they raise.

Anomaly rules compare the last hour's count per action with the same hour of the past weeks using a
robust z-score (median and MAD, so one bad week in the history does not hide the next), and hard caps
catch bursts within ten minutes. An anomaly pauses the action (or the whole agent) through the kill
switch (``controls.system_pause``, audited with the reason); resuming is a manager's decision.

Raising is idempotent: each alert has a key (rule, subject, window), so a task that runs twice in
the same window raises and pauses once.
"""

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from core.audit import audit_record
from governance import controls
from governance.models import (
    ActionCode,
    AgentControl,
    ApprovalRequest,
    ApprovalStatus,
    CatalogAction,
    Execution,
    ExecutionStatus,
)
from insights import metrics
from insights.models import Alert, AlertKind, DailyRollup
from servicedesk.models import Role

HISTORY_WEEKS = 4
MAD_SCALE = 1.4826  # MAD x this estimates the standard deviation of normal data
TOLERANCE_MIN_TICKETS = 20
AGENT = "agent"


@dataclass(frozen=True)
class Finding:
    rule: str
    subject: str  # an action code, or "agent"
    value: float
    expected: float
    score: float
    pause: str  # "agent", an action code, or "" (alert only)
    message: str


# Pure rules: used by the live monitor and by the replay tests alike ---------------------------------


def robust_z(value: float, history: list[float]) -> float:
    """(value - median) / scale, with scale = 1.4826 x MAD but never below the Poisson floor
    sqrt(median) (at least 1): with four weeks of history the MAD of counts is often 0 or tiny, and a
    count's natural spread is never smaller than that."""
    if not history:
        return 0.0
    median = statistics.median(history)
    mad = statistics.median(abs(h - median) for h in history)
    scale = max(MAD_SCALE * mad, median**0.5, 1.0)
    return (value - median) / scale


def rate_findings(
    signal: str, current: dict[str, int], history: list[dict[str, int]], *, pause: bool
) -> list[Finding]:
    """Per action: is this window's count far above the same hours in past weeks?"""
    findings = []
    threshold = float(settings.ANOMALY_Z_THRESHOLD)
    for action, count in sorted(current.items()):
        past = [float(week.get(action, 0)) for week in history]
        score = robust_z(count, past)
        if count >= settings.ANOMALY_MIN_COUNT and score >= threshold:
            expected = statistics.median(past) if past else 0.0
            findings.append(
                Finding(
                    rule=f"{signal}_rate",
                    subject=action,
                    value=count,
                    expected=expected,
                    score=round(score, 2),
                    pause=action if pause else "",
                    message=(
                        f"{signal} of {action}: {count} in the last hour, against a median of "
                        f"{expected:g} in the same hour of past weeks (robust z {score:.1f})"
                    ),
                )
            )
    return findings


def cap_findings(*, grants: int, failures: int) -> list[Finding]:
    findings = []
    grant_cap = settings.ANOMALY_GRANTS_PER_10_MIN
    if grants > grant_cap:
        findings.append(
            Finding(
                "grant_cap",
                ActionCode.GRANT_GROUP_ACCESS,
                grants,
                grant_cap,
                0.0,
                ActionCode.GRANT_GROUP_ACCESS,
                f"{grants} group grants in 10 minutes (cap {grant_cap})",
            )
        )
    failure_cap = settings.ANOMALY_FAILURES_PER_10_MIN
    if failures > failure_cap:
        findings.append(
            Finding(
                "failure_cap",
                AGENT,
                failures,
                failure_cap,
                0.0,
                AGENT,
                f"{failures} failed or refused executions in 10 minutes (cap {failure_cap})",
            )
        )
    return findings


# Counting the live data ---------------------------------------------------------------------------


def _by_action(rows: QuerySet[Any]) -> dict[str, int]:
    return {row["action"]: row["n"] for row in rows.values("action").annotate(n=Count("id")).order_by()}


def _signal_counts(signal: str, start: datetime, end: datetime) -> dict[str, int]:
    if signal == "executions":
        return _by_action(Execution.objects.filter(started_at__gte=start, started_at__lt=end))
    if signal == "failures":
        failed = Execution.objects.filter(status=ExecutionStatus.FAILED)
        return _by_action(failed.filter(finished_at__gte=start, finished_at__lt=end))
    rejected = ApprovalRequest.objects.filter(status=ApprovalStatus.REJECTED)
    return _by_action(rejected.filter(decided_at__gte=start, decided_at__lt=end))


SIGNALS = (("executions", True), ("failures", True), ("denials", False))


def anomaly_findings(now: datetime) -> list[Finding]:
    findings: list[Finding] = []
    for signal, pause in SIGNALS:
        current = _signal_counts(signal, now - timedelta(hours=1), now)
        # The same hour of each past week, and the hours either side: twelve samples, so the median
        # and MAD are steady enough for a robust z-score.
        history = [
            _signal_counts(signal, end - timedelta(hours=1), end)
            for k in range(1, HISTORY_WEEKS + 1)
            for shift in (-1, 0, 1)
            for end in [now - timedelta(weeks=k) + timedelta(hours=shift)]
        ]
        findings += rate_findings(signal, current, history, pause=pause)
    recent = Execution.objects.filter(started_at__gte=now - timedelta(minutes=10))
    grants = recent.filter(action=ActionCode.GRANT_GROUP_ACCESS).count()
    failures = Execution.objects.filter(
        status=ExecutionStatus.FAILED, finished_at__gte=now - timedelta(minutes=10)
    ).count()
    return findings + cap_findings(grants=grants, failures=failures)


# Raising alerts -----------------------------------------------------------------------------------


def _already_paused(target: str) -> bool:
    if target == AGENT:
        return AgentControl.objects.filter(pk=1, paused=True).exists()
    return CatalogAction.objects.filter(code=target, paused=True).exists()


def _pause(target: str, reason: str) -> str:
    if not target or _already_paused(target):
        return ""
    if target != AGENT and not CatalogAction.objects.filter(code=target).exists():
        return ""
    controls.system_pause(
        reason=reason[: controls.REASON_MAX_LENGTH], code=None if target == AGENT else target
    )
    return target


def alert_raise(
    *, key: str, kind: str, rule: str, subject: str, message: str, data: dict[str, Any], pause: str = ""
) -> Alert | None:
    """Record an alert once per key; pause what it names; email it after commit. None if already raised."""
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                key=key, kind=kind, rule=rule, subject=subject, message=message[:500], data=data
            )
            if pause:
                alert.paused = _pause(pause, f"automatic pause by the monitor: {message}")
                alert.save(update_fields=["paused"])
            audit_record(
                code="anomaly.detected",
                actor_kind="system",
                actor_label="monitor",
                data={
                    "alert": alert.pk,
                    "kind": kind,
                    "rule": rule,
                    "subject": subject,
                    "message": message,
                    "paused": alert.paused,
                    **data,
                },
            )
    except IntegrityError:
        return None  # raised already in this window
    transaction.on_commit(lambda: alert_email(alert_id=alert.pk), robust=True)
    return alert


def _window_key(now: datetime, minutes: int) -> str:
    bucket = int(now.timestamp()) // (minutes * 60)
    return str(bucket)


def monitor_anomalies(*, now: datetime | None = None) -> list[Alert]:
    """The periodic anomaly check. One finding's failure never stops the others."""
    now = now or timezone.now()
    raised = []
    for finding in anomaly_findings(now):
        minutes = 10 if finding.rule.endswith("_cap") else 60
        alert = alert_raise(
            key=f"anomaly:{finding.rule}:{finding.subject}:{_window_key(now, minutes)}",
            kind=AlertKind.ANOMALY,
            rule=finding.rule,
            subject=finding.subject,
            message=finding.message,
            data={"value": finding.value, "expected": finding.expected, "score": finding.score},
            pause=finding.pause,
        )
        if alert:
            raised.append(alert)
    return raised


def weekly_rates(end_day: Any) -> dict[str, tuple[float | None, int]]:
    """The last seven days' error and escalation rates from rollups, with their denominators."""
    rows = DailyRollup.objects.filter(day__gt=end_day - timedelta(days=7), day__lte=end_day)
    t = metrics.totals(rows.values(*metrics.ROLLUP_FIELDS), days=7)
    return {
        "error_rate": (metrics.ratio(t.agent_errors, t.agent_resolved), t.agent_resolved),
        "escalation_rate": (metrics.ratio(t.escalated, t.tickets), t.tickets),
    }


def tolerance_findings(rates: dict[str, tuple[float | None, int]]) -> list[Finding]:
    findings = []
    for code, (value, denominator) in rates.items():
        band = metrics.tolerance_band(code)
        if band is None or value is None or denominator < TOLERANCE_MIN_TICKETS:
            continue
        low, high = band
        if not low <= value <= high:
            label = metrics.METRICS_BY_CODE[code].label
            side = "above" if value > high else "below"
            findings.append(
                Finding(
                    "tolerance",
                    code,
                    round(value, 4),
                    high if value > high else low,
                    0.0,
                    "",
                    f"{label} {value:.1%} over the last 7 days is {side} the band {low:.0%}-{high:.0%}",
                )
            )
    return findings


def monitor_tolerance(*, today: Any = None) -> list[Alert]:
    """Yesterday's trailing week against the tolerance bands (today is not complete yet)."""
    end_day = (today or timezone.localdate()) - timedelta(days=1)
    raised = []
    for finding in tolerance_findings(weekly_rates(end_day)):
        alert = alert_raise(
            key=f"tolerance:{finding.subject}:{end_day.isoformat()}",
            kind=AlertKind.TOLERANCE,
            rule=finding.rule,
            subject=finding.subject,
            message=finding.message,
            data={"value": finding.value, "limit": finding.expected, "week_ending": end_day.isoformat()},
        )
        if alert:
            raised.append(alert)
    return raised


# Email and acknowledgement ------------------------------------------------------------------------


def alert_recipients() -> list[str]:
    managers = User.objects.filter(groups__name=Role.MANAGER, is_active=True).exclude(email="")
    return sorted(set(managers.values_list("email", flat=True)) | set(settings.ALERT_EMAILS))


def alert_email(*, alert_id: int) -> None:
    """Send once: the conditional update claims the alert before the mail goes out."""
    alert = Alert.objects.filter(pk=alert_id, emailed_at__isnull=True).first()
    recipients = alert_recipients()
    if alert is None or not recipients:
        return
    if not Alert.objects.filter(pk=alert_id, emailed_at__isnull=True).update(emailed_at=timezone.now()):
        return
    paused = (
        f"\n\nPaused automatically: {alert.paused}. Resuming is a manager's decision." if alert.paused else ""
    )
    send_mail(
        subject=f"[service desk] {alert.get_kind_display()} alert: {alert.subject or alert.rule}",
        message=f"{alert.message}{paused}\n\n{settings.SITE_URL}/governance/dashboard/monitoring/",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )


@transaction.atomic
def alert_acknowledge(*, alert_id: int, by: User) -> bool:
    """A manager has seen it. False when it was acknowledged already."""
    if not controls.can_control_agent(by):
        raise PermissionDenied("Only managers acknowledge alerts.")
    updated = Alert.objects.filter(pk=alert_id, acknowledged_at__isnull=True).update(
        acknowledged_by=by, acknowledged_at=timezone.now()
    )
    if updated:
        audit_record(code="alert.acknowledged", actor_kind="user", actor=by, data={"alert": alert_id})
    return bool(updated)


def open_alerts() -> Iterable[Alert]:
    return Alert.objects.filter(acknowledged_at__isnull=True)
