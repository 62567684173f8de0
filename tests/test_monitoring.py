"""Anomaly rules pause through the kill switch and the executor then refuses; tolerance alerts; replays."""

import math
import random
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.utils import timezone

from core.models import AuditEvent
from governance import dispatch, executor
from governance.demo import demo_catalog_load
from governance.models import AgentControl, CatalogAction, DirectoryMembership, Execution, ExecutionStatus
from governance.types import Proposal
from insights import monitoring
from insights.models import Alert, DailyRollup
from servicedesk.demo_org import demo_org_load
from servicedesk.models import TicketStatus
from tests.factories import TicketFactory
from tests.queue_seam import patch_task


@pytest.fixture
def org(db):
    demo_org_load(password="demo")
    demo_catalog_load()
    return {user.username: user for user in User.objects.all()}


def _claimed_execution(requester: User, action: str, **params: str) -> Execution:
    """An execution the agent claimed (dispatched, not yet run)."""
    ticket = TicketFactory(requester=requester, status=TicketStatus.TRIAGING)
    with patch_task("governance.tasks.run_execution"):
        dispatch.proposal_dispatch(ticket_id=ticket.pk, proposal=Proposal(action=action, params=params))
    return Execution.objects.get(ticket=ticket)


def _burst(requester: User, action: str, n: int, *, status: str = ExecutionStatus.SUCCEEDED) -> None:
    now = timezone.now()
    ticket = TicketFactory(requester=requester)
    Execution.objects.bulk_create(
        Execution(
            idempotency_key=f"burst-{action}-{status}-{i}",
            ticket=ticket,
            action=action,
            digest="x",
            connector="builtin",
            status=status,
            started_at=now - timedelta(minutes=2),
            finished_at=now - timedelta(minutes=1),
        )
        for i in range(n)
    )


@pytest.mark.django_db(transaction=True)
def test_grant_burst_pauses_the_action_and_the_executor_then_refuses(org, settings):
    settings.ANOMALY_GRANTS_PER_10_MIN = 10
    claimed = _claimed_execution(org["bob"], "grant_group_access", group="wiki-editors")
    memberships = set(DirectoryMembership.objects.values_list("account__username", "group__name"))
    assert ("bob", "wiki-editors") not in memberships
    _burst(org["alice"], "grant_group_access", 11)

    raised = monitoring.monitor_anomalies()

    # The hourly-rate rule and the 10-minute cap both fire; the first pauses, the second finds it paused.
    assert [(a.rule, a.subject, a.paused) for a in raised] == [
        ("executions_rate", "grant_group_access", "grant_group_access"),
        ("grant_cap", "grant_group_access", ""),
    ]
    action = CatalogAction.objects.get(code="grant_group_access")
    assert action.paused is True
    assert action.paused_reason.startswith(
        "automatic pause by the monitor: executions of grant_group_access: 12"
    )
    paused_event = AuditEvent.objects.get(code="action.paused")
    assert (paused_event.actor_kind, paused_event.data["action"]) == ("system", "grant_group_access")
    assert AuditEvent.objects.filter(code="anomaly.detected").count() == 2
    assert [m.subject for m in mail.outbox] == ["[service desk] Anomaly alert: grant_group_access"] * 2

    result = executor.execution_run(execution_id=claimed.pk)

    assert result.status == ExecutionStatus.FAILED
    assert "paused" in result.error
    assert set(DirectoryMembership.objects.values_list("account__username", "group__name")) == memberships
    assert AuditEvent.objects.filter(code="execution.refused", ticket_id=claimed.ticket_id).count() == 1
    assert not AuditEvent.objects.filter(code="execution.started", ticket_id=claimed.ticket_id).exists()


@pytest.mark.django_db
def test_failure_burst_pauses_the_whole_agent_and_resuming_stays_human(org, settings):
    settings.ANOMALY_FAILURES_PER_10_MIN = 5
    claimed = _claimed_execution(org["alice"], "reset_password")
    _burst(org["dave"], "unlock_account", 6, status=ExecutionStatus.FAILED)

    raised = monitoring.monitor_anomalies()

    assert ("failure_cap", "agent") in [(a.rule, a.paused) for a in raised]
    control = AgentControl.objects.get(pk=1)
    assert control.paused is True
    assert control.changed_by is None
    assert executor.execution_run(execution_id=claimed.pk).status == ExecutionStatus.FAILED
    assert not AuditEvent.objects.filter(code="agent.resumed").exists()


@pytest.mark.django_db
def test_running_the_monitor_twice_in_a_window_raises_and_pauses_once(org, settings):
    settings.ANOMALY_GRANTS_PER_10_MIN = 10
    _burst(org["alice"], "grant_group_access", 11)
    now = timezone.now()
    if int(now.timestamp()) % 600 >= 569:  # both runs inside one 10-minute (and hourly) window
        now += timedelta(seconds=31)
    first = monitoring.monitor_anomalies(now=now)
    assert monitoring.monitor_anomalies(now=now + timedelta(seconds=30)) == []
    assert Alert.objects.count() == len(first) == 2  # the hard cap and the hourly rate
    assert AuditEvent.objects.filter(code="action.paused").count() == 1


@pytest.mark.django_db
def test_no_alert_when_rates_are_normal(org):
    _burst(org["alice"], "reset_password", 2)
    assert monitoring.monitor_anomalies() == []
    assert not CatalogAction.objects.filter(paused=True).exists()


def _rollup(day: date, tickets: int, escalated: int, agent_resolved: int, agent_errors: int) -> None:
    DailyRollup.objects.create(
        day=day,
        queue="general",
        action="",
        resolver="agent",
        tickets=tickets,
        escalated=escalated,
        agent_resolved=agent_resolved,
        agent_errors=agent_errors,
    )


@pytest.mark.django_db
def test_tolerance_band_breach_raises_an_alert_and_emails_managers(org, django_capture_on_commit_callbacks):
    today = date(2026, 5, 11)
    for offset in range(1, 8):
        _rollup(today - timedelta(days=offset), tickets=10, escalated=7, agent_resolved=3, agent_errors=0)
    with django_capture_on_commit_callbacks(execute=True):
        raised = monitoring.monitor_tolerance(today=today)
    assert [(a.kind, a.subject, a.data["value"]) for a in raised] == [("tolerance", "escalation_rate", 0.7)]
    assert raised[0].message == "Escalation rate 70.0% over the last 7 days is above the band 20%-60%"
    assert len(mail.outbox) == 1
    assert "judy@example.com" in mail.outbox[0].to
    assert "alice@example.com" not in mail.outbox[0].to
    assert Alert.objects.get().emailed_at is not None


@pytest.mark.django_db
def test_tolerance_inside_the_band_is_quiet(org):
    today = date(2026, 5, 11)
    for offset in range(1, 8):
        _rollup(today - timedelta(days=offset), tickets=10, escalated=4, agent_resolved=6, agent_errors=0)
    assert monitoring.monitor_tolerance(today=today) == []


@pytest.mark.django_db
def test_only_managers_acknowledge_and_it_is_audited(org):
    alert = Alert.objects.create(key="k", kind="anomaly", rule="grant_cap", message="m")
    with pytest.raises(monitoring.PermissionDenied):
        monitoring.alert_acknowledge(alert_id=alert.pk, by=org["ivan"])
    assert monitoring.alert_acknowledge(alert_id=alert.pk, by=org["erin"]) is True
    assert monitoring.alert_acknowledge(alert_id=alert.pk, by=org["erin"]) is False
    alert.refresh_from_db()
    assert alert.acknowledged_by == org["erin"]
    assert AuditEvent.objects.filter(code="alert.acknowledged").count() == 1


# Replays: synthetic weeks of hourly counts, the same rule the live monitor uses ----------------------


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _hourly_week(rng: random.Random) -> list[int]:
    """One week of hourly execution counts: busy working hours, quiet nights and weekends."""
    rates = []
    for hour in range(7 * 24):
        day, h = divmod(hour, 24)
        rates.append(6.0 if day < 5 and 8 <= h < 18 else 0.5)
    return [_poisson(rng, lam) for lam in rates]


def _replay(weeks: list[list[int]]) -> list[int]:
    """Every hour of weeks 5 and later, judged against the same hours (and either side) of the four
    weeks before, as the live monitor does."""
    flagged = []
    for w in range(4, len(weeks)):
        for hour in range(7 * 24):
            history = [
                {"reset_password": weeks[w - k][min(max(hour + shift, 0), 167)]}
                for k in range(1, 5)
                for shift in (-1, 0, 1)
            ]
            current = {"reset_password": weeks[w][hour]}
            if monitoring.rate_findings("executions", current, history, pause=True):
                flagged.append(w * 168 + hour)
    return flagged


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_replay_detects_an_injected_spike_within_two_windows(seed, settings):
    settings.ANOMALY_Z_THRESHOLD = 5.0
    settings.ANOMALY_MIN_COUNT = 8
    rng = random.Random(seed)
    weeks = [_hourly_week(rng) for _ in range(6)]
    spike_start = 5 * 168 + 2 * 24 + 10  # week 6, Wednesday 10:00, three hours at five times the rate
    for hour in range(3):
        weeks[5][2 * 24 + 10 + hour] = _poisson(rng, 30.0)
    flagged = _replay(weeks)
    assert flagged, "the spike was not detected"
    assert spike_start <= flagged[0] <= spike_start + 1
    assert all(spike_start <= h < spike_start + 3 for h in flagged)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_replay_raises_nothing_on_unshifted_weeks(seed, settings):
    settings.ANOMALY_Z_THRESHOLD = 5.0
    settings.ANOMALY_MIN_COUNT = 8
    rng = random.Random(seed)
    assert _replay([_hourly_week(rng) for _ in range(8)]) == []
