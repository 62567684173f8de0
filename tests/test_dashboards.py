"""The managers' pages: who may open them, what they show, the reviews' verdicts, and their cost."""

import re
from datetime import date, timedelta
from unittest import mock

import pytest
from celery import signals as celery_signals
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEvent
from insights import charts, reviews
from insights.models import Alert, Baseline, DailyRollup, Review
from servicedesk.models import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PAGES = [
    ("governance:dashboard", {}),
    ("governance:dashboard_reviews", {}),
    ("governance:dashboard_monitoring", {}),
]


@pytest.fixture
def manager(db):
    return UserFactory(username="erin", email="erin@example.com", roles=[Role.EMPLOYEE, Role.MANAGER])


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


def _cell(day: date, **counts: int) -> DailyRollup:
    fields = {"queue": "accounts-access", "action": "reset_password", "resolver": "agent", **counts}
    return DailyRollup.objects.create(day=day, **fields)


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_anonymous_visitors_go_to_sign_in(client, name, kwargs):
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
@pytest.mark.parametrize(
    "roles", [[Role.EMPLOYEE], [Role.SERVICE_DESK], [Role.SERVICE_DESK, Role.SERVICE_DESK_LEAD]]
)
def test_employees_and_staff_are_refused(client, name, kwargs, roles):
    user = UserFactory(username="someone", roles=roles, is_staff=Role.SERVICE_DESK in roles)
    client.force_login(user)
    assert client.get(reverse(name, kwargs=kwargs)).status_code == 403


def test_staff_cannot_acknowledge_an_alert(client):
    alert = Alert.objects.create(key="k", kind="anomaly", rule="grant_cap", message="m")
    client.force_login(UserFactory(username="ivan", roles=[Role.SERVICE_DESK], is_staff=True))
    assert client.post(reverse("governance:dashboard_alert_ack", args=[alert.pk])).status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_review_csv_is_refused_to_employees(alice_client):
    baseline = Baseline.objects.create(
        name="b",
        source="manual",
        monthly_volume=1,
        cycle_time_hours=1,
        error_rate=0,
        staff_hours_monthly=1,
        escalation_rate=0,
    )
    review = Review.objects.create(
        kind="pilot", name="p", baseline=baseline, period_start=date(2026, 1, 1), period_end=date(2026, 1, 31)
    )
    response = alice_client.get(reverse("governance:dashboard_review", args=[review.pk]) + "?format=csv")
    assert response.status_code == 403


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_superusers_may_open_them(client, name, kwargs):
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    assert client.get(reverse(name, kwargs=kwargs)).status_code == 200


def test_dashboard_shows_figures_definitions_and_banded_charts(manager_client):
    today = timezone.localdate()
    _cell(
        today - timedelta(days=1),
        tickets=8,
        autonomous=6,
        agent_resolved=6,
        agent_errors=1,
        resolved=6,
        escalated=2,
        cycle_sample=[60, 120, 180, 240, 300, 3600],
    )
    response = manager_client.get(reverse("governance:dashboard") + "?days=28")
    html = response.content.decode()
    assert response.status_code == 200
    assert "75.0%" in html  # autonomous rate 6/8
    assert "16.7%" in html  # error rate 1/6
    assert "Tickets resolved by the agent with no human step / all tickets created." in html
    assert html.count('<rect class="band"') >= 4  # error and escalation charts: area and legend
    assert "<script" not in html


def test_dashboard_cost_does_not_grow_with_rollup_rows(manager_client, django_assert_num_queries):
    today = timezone.localdate()
    url = reverse("governance:dashboard")
    manager_client.get(url)  # the session and role caches warm up the same way each time
    for offset in range(56):
        _cell(today - timedelta(days=offset), tickets=10, autonomous=5, resolved=5, cycle_sample=[60, 120])
        _cell(today - timedelta(days=offset), queue="hardware", action="", resolver="staff", tickets=3)
    # session, user, the user's groups with the unread-notification count (one query, cached for the
    # request), rollups, shadow agreement (one aggregate over the audit trail), and the context
    # processor's pending approvals. Fifty-six days of rows, still one rollup query.
    with django_assert_num_queries(6):
        assert manager_client.get(url).status_code == 200


def test_monitoring_page_lists_alerts_and_a_manager_acknowledges(
    manager_client, manager, django_assert_num_queries
):
    alert = Alert.objects.create(
        key="k",
        kind="anomaly",
        rule="grant_cap",
        subject="grant_group_access",
        message="12 group grants in 10 minutes (cap 10)",
        paused="grant_group_access",
    )
    # session, user, groups with unread count, alerts, drift checks, and pending approvals
    with django_assert_num_queries(6):
        html = manager_client.get(reverse("governance:dashboard_monitoring")).content.decode()
    assert "12 group grants in 10 minutes (cap 10)" in html
    response = manager_client.post(reverse("governance:dashboard_alert_ack", args=[alert.pk]))
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == manager
    assert AuditEvent.objects.filter(code="alert.acknowledged").count() == 1


def _review(baseline: Baseline, start: date, end: date, *, set_days_before: int = 2) -> Review:
    review = Review.objects.create(
        kind=Review.Kind.PILOT,
        name="Pilot",
        baseline=baseline,
        period_start=start,
        period_end=end,
        max_cycle_time_ratio=0.8,
        max_error_rate=0.05,
        max_staff_hours_ratio=0.8,
        max_escalation_rate=0.6,
    )
    Review.objects.filter(pk=review.pk).update(
        thresholds_set_at=reviews.aware(start) - timedelta(days=set_days_before)
    )
    review.refresh_from_db()
    return review


@pytest.fixture
def baseline(db):
    return Baseline.objects.create(
        name="Before",
        source="manual",
        monthly_volume=300,
        cycle_time_hours=5.0,
        error_rate=0.06,
        staff_hours_monthly=200,
        escalation_rate=1.0,
    )


def _period(start: date, days: int, *, errors: int) -> None:
    for offset in range(days):
        # each day: 10 tickets, 4 escalated, 10 resolved in 1 h, `errors` wrong, 2 staff hours
        _cell(
            start + timedelta(days=offset),
            tickets=10,
            escalated=4,
            resolved=10,
            errors=errors,
            cycle_sample=[3600] * 10,
            staff_seconds=7200,
        )


def test_pilot_review_says_go_when_every_threshold_is_met(manager_client, baseline):
    start = date(2026, 1, 5)
    _period(start, 30, errors=0)
    review = _review(baseline, start, start + timedelta(days=29))
    data = reviews.review_data(review, today=date(2026, 3, 1))
    assert data["go"] is True
    assert data["blockers"] == []
    assert data["reasons"] == [
        "Cycle time (p50, hours) 1.0 h meets the threshold <= 0.8 x baseline (4.0 h)",
        "Error rate (all resolvers) 0.0% meets the threshold <= 5.0% (5.0%)",
        "Staff hours per 30 days 60.0 h meets the threshold <= 0.8 x baseline (160.0 h)",
        "Escalation rate 40.0% meets the threshold <= 60.0% (60.0%)",
    ]
    html = manager_client.get(reverse("governance:dashboard_review", args=[review.pk])).content.decode()
    assert ">GO<" in html


def test_pilot_review_says_no_go_with_the_reasons(baseline):
    start = date(2026, 1, 5)
    _period(start, 30, errors=1)
    review = _review(baseline, start, start + timedelta(days=29), set_days_before=-1)
    data = reviews.review_data(review, today=date(2026, 3, 1))
    assert data["go"] is False
    assert data["blockers"] == [
        "Error rate (all resolvers) 10.0% misses the threshold <= 5.0% (5.0%)",
        "The thresholds were set after the period started; plan the review before it starts.",
    ]


def test_review_exports_csv(manager_client, baseline):
    start = date(2026, 1, 5)
    _period(start, 30, errors=0)
    review = _review(baseline, start, start + timedelta(days=29))
    response = manager_client.get(reverse("governance:dashboard_review", args=[review.pk]) + "?format=csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    lines = response.content.decode().splitlines()
    assert lines[2] == "verdict,go"
    assert lines[3] == "metric,baseline,actual,threshold,limit,passed"
    assert lines[4] == '"Cycle time (p50, hours)",5.0,1.0,<= 0.8 x baseline,4.0,yes'


def test_baseline_computed_from_a_period_through_the_page(manager_client):
    start = date(2026, 1, 5)
    _period(start, 10, errors=1)
    response = manager_client.post(
        reverse("governance:dashboard_reviews"),
        {
            "form": "compute",
            "c-name": "January",
            "c-period_start": "2026-01-05",
            "c-period_end": "2026-01-14",
        },
    )
    assert response.status_code == 302
    baseline = Baseline.objects.get()
    assert (baseline.source, baseline.monthly_volume, baseline.cycle_time_hours) == ("computed", 300.0, 1.0)
    assert (baseline.error_rate, baseline.staff_hours_monthly, baseline.escalation_rate) == (0.1, 60.0, 0.4)
    assert AuditEvent.objects.filter(code="baseline.recorded").count() == 1


def test_quarterly_page_opens_the_latest_quarterly_review(manager_client, baseline):
    review = Review.objects.create(
        kind=Review.Kind.QUARTERLY,
        name="Q1",
        baseline=baseline,
        period_start=date(2026, 1, 1),
        period_end=date(2026, 3, 31),
    )
    response = manager_client.get(reverse("governance:dashboard_quarterly"))
    assert response["Location"] == reverse("governance:dashboard_review", args=[review.pk])


def test_dashboard_says_how_fresh_its_rollups_are(manager_client, settings):
    settings.ROLLUP_REBUILD_MINUTES = 15
    url = reverse("governance:dashboard")
    html = manager_client.get(url).content.decode()
    assert "rebuilt every 15 minutes; none built yet for this period" in html
    _cell(timezone.localdate(), tickets=3)
    built_at = timezone.localtime(DailyRollup.objects.get().built_at)
    html = manager_client.get(url).content.decode()
    assert f"rebuilt every 15 minutes, last at {built_at:%-d %b, %H:%M}" in html


def test_beat_rebuilds_the_rollups_when_it_starts():
    with mock.patch("config.celery.app.send_task") as send:  # by name: config imports no app
        celery_signals.beat_init.send(sender=None)
    send.assert_called_once_with("insights.tasks.rebuild_rollups")


@pytest.mark.parametrize(
    "values,ticks",
    [
        ([0, 0], ["0", "1", "2", "3", "4"]),
        ([1, 3], ["0", "1", "2", "3", "4"]),
        ([2, 10], ["0", "5", "10", "15", "20"]),
        ([7, 48], ["0", "20", "40", "60", "80"]),
        ([0, 950], ["0", "250", "500", "750", "1,000"]),
    ],
)
def test_count_charts_have_whole_distinct_ticks(values, ticks):
    svg = charts.line_chart(title="t", labels=["a", "b"], series=[charts.Series("n", values)], unit="count")
    assert re.findall(r'text-anchor="end">([^<]*)</text>', svg) == ticks


def test_a_long_legend_wraps_inside_the_chart_and_pushes_the_plot_down():
    names = [
        "(none)",
        "reset_password",
        "install_software",
        "grant_group_access",
        "unlock_account",
        "reset_mfa",
    ]
    series = [charts.Series(name, [1, 2]) for name in names]
    svg = charts.line_chart(title="t", labels=["a", "b"], series=series, unit="rate", band=(0.2, 0.6))
    legend = re.findall(r'<text class="legend" x="(\d+)" y="(\d+)">([^<]*)</text>', svg)
    assert [label for _, _, label in legend] == [*names, "tolerance band"]
    assert all(int(x) + 7 * len(label) <= 720 - charts.RIGHT for x, _, label in legend)
    rows = sorted({int(y) for _, y, _ in legend})
    assert len(rows) == 2
    one_row = charts.line_chart(title="t", labels=["a", "b"], series=series[:1], unit="rate")
    assert 'viewBox="0 0 720 230"' in one_row and 'viewBox="0 0 720 248"' in svg
