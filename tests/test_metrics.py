"""Each metric's definition on six hand-built tickets, through the real rollup build."""

from datetime import date, datetime, timedelta

import pytest
from django.db import models
from django.utils import timezone

from governance.models import ApprovalRequest, Execution
from insights import metrics, reports
from insights.models import DailyRollup
from insights.rollups import rollup_day_build, rollups_rebuild
from servicedesk.models import Queue, StatusChange, Ticket
from tests.factories import TicketFactory, UserFactory

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 2)


def _at(days: int = 0, hours: float = 0, minutes: float = 0) -> datetime:
    base = timezone.make_aware(datetime(DAY.year, DAY.month, DAY.day))
    return base + timedelta(days=days, hours=hours, minutes=minutes)


HAS_HANDLING = any(f.name == "handling_seconds" for f in Ticket._meta.get_fields())


def _ticket(
    requester, queue: str, created: datetime, changes: list[tuple[datetime, str, str]], handling: int = 0
) -> Ticket:
    """A ticket and its status changes. ``handling`` is the staff time the service desk recorded, when
    it records one (``Ticket.handling_seconds``); otherwise the rollups derive the same from the
    claim-to-next-change stretches of these changes."""
    ticket = TicketFactory(requester=requester, queue=Queue.objects.team(queue), created_at=created)
    previous = ""
    for at, status, actor in changes:
        StatusChange.objects.create(
            ticket=ticket, from_status=previous, to_status=status, actor_kind=actor, created_at=at
        )
        previous = status
    resolvers = [actor for _, status, actor in changes if status == "resolved"]
    extra = {"handling_seconds": handling} if HAS_HANDLING else {}
    Ticket.objects.filter(pk=ticket.pk).update(
        status=previous, resolver_kind=resolvers[-1] if resolvers else "", **extra
    )
    return ticket


def _execution(ticket: Ticket, action: str) -> None:
    Execution.objects.create(
        idempotency_key=f"k{ticket.pk}{action}", ticket=ticket, action=action, digest="d", connector="builtin"
    )


def _approval(ticket: Ticket, action: str, status: str) -> None:
    ApprovalRequest.objects.create(
        ticket=ticket,
        requester=ticket.requester,
        action=action,
        digest="d",
        status=status,
        expires_at=_at(days=3),
    )


@pytest.fixture
def six_tickets(db):
    """T1 autonomous; T2 agent-resolved then reopened in 2 days (an error); T3 approved then
    agent-resolved; T4 escalated and resolved by staff; T5 open after a declined approval;
    T6 agent-resolved, reopened after 9 days (outside the window)."""
    who = UserFactory(username="req")
    t1 = _ticket(
        who,
        "accounts-access",
        _at(hours=9),
        [(_at(hours=9, minutes=0.5), "triaging", "agent"), (_at(hours=9, minutes=10), "resolved", "agent")],
    )
    _execution(t1, "reset_password")
    t2 = _ticket(
        who,
        "accounts-access",
        _at(hours=10),
        [
            (_at(hours=10, minutes=1), "triaging", "agent"),
            (_at(hours=10, minutes=20), "resolved", "agent"),
            (_at(days=2, hours=10), "reopened", "requester"),
            (_at(days=2, hours=11), "in_progress", "staff"),
            (_at(days=2, hours=12), "resolved", "staff"),
        ],
        handling=3600,
    )
    _execution(t2, "unlock_account")
    t3 = _ticket(
        who,
        "accounts-access",
        _at(hours=11),
        [
            (_at(hours=11, minutes=1), "awaiting_approval", "agent"),
            (_at(hours=13), "resolved", "agent"),
        ],
    )
    _approval(t3, "grant_group_access", "approved")
    _execution(t3, "grant_group_access")
    _ticket(
        who,
        "hardware",
        _at(hours=12),
        [
            (_at(hours=12, minutes=1), "escalated", "agent"),
            (_at(hours=13), "in_progress", "staff"),
            (_at(hours=15), "resolved", "staff"),
        ],
        handling=7200,
    )
    t5 = _ticket(
        who,
        "software",
        _at(hours=14),
        [
            (_at(hours=14, minutes=1), "awaiting_approval", "agent"),
            (_at(hours=15), "escalated", "system"),
        ],
    )
    _approval(t5, "install_software", "rejected")
    t6 = _ticket(
        who,
        "accounts-access",
        _at(hours=16),
        [
            (_at(hours=16, minutes=5), "resolved", "agent"),
            (_at(days=9, hours=16), "reopened", "requester"),
        ],
    )
    _execution(t6, "reset_password")
    rollup_day_build(day=DAY)


def _value(code: str, t: metrics.Totals) -> float | None:
    return metrics.METRICS_BY_CODE[code].value(t)


def test_rollup_build_writes_one_row_per_cell(six_tickets):
    rows = list(
        DailyRollup.objects.order_by("queue", "action", "resolver").values_list(
            "queue", "action", "resolver", "tickets", "autonomous", "agent_errors"
        )
    )
    assert rows == [
        ("accounts-access", "grant_group_access", "agent", 1, 0, 0),
        ("accounts-access", "reset_password", "agent", 2, 2, 0),
        ("accounts-access", "unlock_account", "agent", 1, 0, 1),
        ("hardware", "", "staff", 1, 0, 0),
        ("software", "install_software", "", 1, 0, 0),
    ]
    cell = DailyRollup.objects.get(action="reset_password")
    assert cell.cycle_sample == [300, 600]
    assert cell.cycle_seconds_sum == 900


def test_volume_autonomous_escalation_and_approval_rates(six_tickets):
    t = reports.period_totals(DAY, DAY)
    assert _value("volume", t) == 6
    assert _value("autonomous_rate", t) == pytest.approx(2 / 6)
    assert _value("escalation_rate", t) == pytest.approx(2 / 6)
    assert _value("approval_rate", t) == 0.5


def test_error_rate_counts_reopenings_within_seven_days_of_the_agents_resolution(six_tickets):
    t = reports.period_totals(DAY, DAY)
    assert (t.agent_resolved, t.agent_errors) == (4, 1)
    assert _value("error_rate", t) == 0.25
    assert (t.resolved, t.errors) == (5, 1)  # the reviews' error rate: every resolver


def test_cycle_time_percentiles_by_resolver_use_nearest_rank(six_tickets):
    t = reports.period_totals(DAY, DAY)
    assert sorted(t.samples["agent"]) == [300, 600, 1200, 7200]
    assert _value("cycle_p50_agent", t) == 600 / 3600
    assert _value("cycle_p90_agent", t) == 2.0
    assert _value("cycle_p50_staff", t) == 3.0
    assert _value("cycle_p90_staff", t) == 3.0
    assert metrics.cycle_percentile(t, 50) == 1200 / 3600


def test_staff_hours_and_cost_per_ticket(six_tickets, settings):
    settings.STAFF_HOURLY_COST_USD = 45.0
    t = reports.period_totals(DAY, DAY)
    assert _value("staff_hours", t) == 3.0  # T2: 1 h after the reopening; T4: 2 h
    assert _value("cost_per_ticket", t) == 22.5


def test_review_figures_scale_to_thirty_days(six_tickets):
    figures = metrics.review_figures(reports.period_totals(DAY, DAY + timedelta(days=2)))
    assert figures == {
        "monthly_volume": 60.0,
        "cycle_time_hours": 1200 / 3600,
        "error_rate": 0.2,
        "staff_hours_monthly": 30.0,
        "escalation_rate": pytest.approx(1 / 3),
    }


def test_rebuilding_twice_gives_the_same_rows(six_tickets):
    before = list(DailyRollup.objects.values_list("queue", "action", "resolver", "tickets"))
    result = rollups_rebuild(days=3, until=DAY + timedelta(days=1))
    assert result["failed"] == []
    assert list(DailyRollup.objects.values_list("queue", "action", "resolver", "tickets")) == before


def test_percentile_and_ratio_edge_cases():
    assert metrics.percentile([], 50) is None
    assert metrics.percentile([5], 90) == 5
    assert metrics.percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9
    assert metrics.ratio(1, 0) is None


def test_dashboard_reads_rollups_in_one_query(six_tickets, django_assert_num_queries):
    with django_assert_num_queries(1):
        data = reports.dashboard_data(days=28, today=DAY + timedelta(days=1))
    cards = {card["metric"].code: card["display"] for card in data["cards"]}
    assert cards["volume"] == "6"
    assert cards["autonomous_rate"] == "33.3%"
    assert cards["error_rate"] == "25.0%"
    assert cards["approval_rate"] == "50.0%"
    assert cards["cycle_p90_agent"] == "2.0 h"


@pytest.mark.skipif(
    not any(m.__name__ == "AgentCorrection" for m in __import__("django.apps").apps.apps.get_models()),
    reason="servicedesk has no staff-correction model",
)
def test_a_ticket_staff_marked_wrong_counts_as_an_agent_error(six_tickets):
    from django.apps import apps

    correction = apps.get_model("servicedesk", "AgentCorrection")
    required = {
        f.name
        for f in correction._meta.concrete_fields
        if not (f.null or f.blank or f.has_default() or f.primary_key or f.name in ("ticket", "wrong"))
        and getattr(f, "db_default", None) is models.NOT_PROVIDED
    }
    if required:
        pytest.skip(f"AgentCorrection needs fields this test does not know: {sorted(required)}")
    t1 = Ticket.objects.get(created_at=_at(hours=9))
    correction._default_manager.create(ticket=t1, wrong=True)
    rollup_day_build(day=DAY)
    t = reports.period_totals(DAY, DAY)
    assert (t.agent_resolved, t.agent_errors, t.autonomous) == (4, 2, 2)
