"""The managers' backtest: past tickets replayed through the real router and policy with what-if
catalog changes, classified exactly, with no side effect; managers only; and shadow agreement on
the dashboard."""

# ruff: noqa: F811 - the demo org and the real agent come from test_agent_triage's fixtures

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from agents.models import AgentRun
from core.audit import audit_record
from core.models import AuditEvent
from governance.models import (
    ApprovalRequest,
    ApprovalStep,
    CatalogAction,
    DirectoryAccount,
    DirectoryGroup,
    DirectoryMembership,
    Execution,
    ResetToken,
    Software,
    SoftwareAssignment,
)
from insights import backtest, backtest_export
from insights.models import BacktestRun, BacktestTicket
from insights.tasks import run_backtest
from insights.whatif import WhatIf
from servicedesk.models import Comment, Notification, StatusChange, Ticket, TicketStatus
from tests.factories import TicketFactory
from tests.queue_seam import patch_task
from tests.test_agent_triage import org  # noqa: F401
from understanding.llm import ModelUnavailable

pytestmark = pytest.mark.django_db

# Zoom above the 250 USD autonomous limit, Tableau below it, unlocking accounts switched off.
WHAT_IF = [
    WhatIf("software", "Zoom", "yearly_cost_usd", 0, 300),
    WhatIf("software", "Tableau Desktop", "yearly_cost_usd", 900, 100),
    WhatIf("action", "unlock_account", "enabled", True, False),
]


def _ticket(user: User, text: str) -> Ticket:
    return TicketFactory(requester=user, subject=text[:60], description=text)


@pytest.fixture
def history(org, triage):
    """Six past tickets: five went through the real agent and executor, one predates the agent, and
    one carries a hand-written agent decision that differs from what the agent says now."""
    tickets = {
        "zoom": triage(_ticket(org["alice"], "please install Zoom")),
        "monitor": triage(_ticket(org["alice"], "my monitor is broken")),
        "locked": triage(_ticket(org["bob"], "my account is locked, please unlock it")),
        "tableau": triage(_ticket(org["alice"], "I need Tableau")),
        "slack": _ticket(org["bob"], "I need Slack on my laptop"),  # handled by staff before the agent
        "zoom_other": _ticket(org["carol"], "please install Zoom"),
    }
    AgentRun.objects.create(
        ticket=tickets["zoom_other"],
        outcome="execute",
        proposal={"kind": "proposal", "action": "install_software", "params": {"software": "Slack"}},
    )
    return tickets


def _state() -> dict[str, Any]:
    """Everything a replay must leave alone: rows, tickets, the directory and the catalog."""
    return {
        "counts": {
            model.__name__: model.objects.count()
            for model in (
                Execution,
                ApprovalRequest,
                ApprovalStep,
                Notification,
                Ticket,
                Comment,
                StatusChange,
                AgentRun,
                ResetToken,
                DirectoryMembership,
                SoftwareAssignment,
            )
        },
        "audit": list(AuditEvent.objects.order_by("id").values_list("id", "code", "hash")),
        "tickets": list(Ticket.objects.order_by("id").values()),
        "accounts": list(DirectoryAccount.objects.order_by("id").values()),
        "memberships": list(DirectoryMembership.objects.order_by("id").values()),
        "catalog": list(CatalogAction.objects.order_by("id").values()),
        "software": list(Software.objects.order_by("id").values()),
        "groups": list(DirectoryGroup.objects.order_by("id").values()),
    }


def _start(by: User, captured, changes=WHAT_IF, **kwargs: Any) -> BacktestRun:
    today = timezone.localdate()
    with patch_task("insights.tasks.run_backtest") as send, captured(execute=True):
        run = backtest.backtest_start(by=by, start=today, end=today, changes=changes, **kwargs)
    send.assert_called_once_with(args=(run.pk,), queue="servicedesk")
    return run


def test_history_is_what_the_fixture_says(history):
    assert history["zoom"].status == TicketStatus.RESOLVED
    assert history["monitor"].status == TicketStatus.ESCALATED
    assert history["locked"].status == TicketStatus.RESOLVED
    assert history["tableau"].status == TicketStatus.AWAITING_APPROVAL


def test_each_ticket_is_classified_exactly(org, history, django_capture_on_commit_callbacks):
    run = _start(org["erin"], django_capture_on_commit_callbacks)
    assert run_backtest(run.pk) == "done"
    run.refresh_from_db()
    assert (run.status, run.total, run.processed, run.error) == ("done", 6, 6, "")
    rows = {
        row.ticket_id: (row.before_outcome, row.after_outcome, row.after_action, row.after_params, row.change)
        for row in BacktestTicket.objects.filter(run=run)
    }
    t = {name: ticket.pk for name, ticket in history.items()}
    assert rows == {
        t["zoom"]: (
            "execute",
            "needs_approval",
            "install_software",
            {"software": "Zoom"},
            "approval_now_required",
        ),
        t["monitor"]: ("escalate", "escalate", "", {}, "unchanged"),
        t["locked"]: ("execute", "escalate", "unlock_account", {}, "no_longer_acted"),
        t["tableau"]: (
            "needs_approval",
            "execute",
            "install_software",
            {"software": "Tableau Desktop"},
            "approval_no_longer_required",
        ),
        t["slack"]: ("none", "execute", "install_software", {"software": "Slack"}, "newly_acted"),
        t["zoom_other"]: (
            "execute",
            "needs_approval",
            "install_software",
            {"software": "Zoom"},
            "different_action",
        ),
    }
    locked = BacktestTicket.objects.get(run=run, ticket_id=t["locked"])
    assert locked.after_reason == "unlock_account is disabled in the catalog"
    assert run.summary["changes"] == {
        "unchanged": 1,
        "newly_acted": 1,
        "no_longer_acted": 1,
        "different_action": 1,
        "approval_now_required": 1,
        "approval_no_longer_required": 1,
    }
    assert run.summary["outcomes"] == {
        "before": {"execute": 3, "escalate": 1, "needs_approval": 1, "none": 1},
        "after": {"needs_approval": 2, "escalate": 2, "execute": 2},
    }
    assert run.summary["actions"]["install_software"] == {"acted_before": 3, "acted_after": 4, "changed": 4}
    assert run.summary["actions"]["unlock_account"] == {"acted_before": 1, "changed": 1}
    assert run.summary["queues"]["hardware"] == {
        "tickets": 1,
        "acted_before": 0,
        "acted_after": 0,
        "changed": 0,
    }
    assert run.changed == 5


def test_without_changes_the_agents_own_tickets_are_unchanged(
    org, history, django_capture_on_commit_callbacks
):
    run = _start(org["erin"], django_capture_on_commit_callbacks, changes=[])
    run_backtest(run.pk)
    run.refresh_from_db()
    assert run.summary["changes"]["unchanged"] == 4  # zoom, monitor, locked, tableau: the same decision
    assert run.summary["changes"]["newly_acted"] == 1  # the ticket from before the agent
    assert run.summary["changes"]["different_action"] == 1  # the hand-written decision


def test_a_replay_has_no_side_effects_and_saves_no_catalog_change(
    org, history, django_capture_on_commit_callbacks
):
    before = _state()
    run = _start(org["erin"], django_capture_on_commit_callbacks)
    run_backtest(run.pk)
    after = _state()
    [event] = AuditEvent.objects.filter(code="backtest.run")
    assert after["audit"][:-1] == before["audit"] and after["audit"][-1][:2] == (event.pk, "backtest.run")
    assert event.actor_id == org["erin"].pk
    assert event.data["changes"][0] == {
        "kind": "software",
        "name": "Zoom",
        "field": "yearly_cost_usd",
        "before": 0,
        "after": 300,
    }
    after.pop("audit"), before.pop("audit")
    assert after == before
    assert Software.objects.get(name="Zoom").yearly_cost_usd == 0
    assert CatalogAction.objects.get(code="unlock_account").enabled is True


def test_a_run_is_claimed_once_and_an_interrupted_run_is_marked_failed(
    org, history, django_capture_on_commit_callbacks
):
    run = _start(org["erin"], django_capture_on_commit_callbacks)
    run_backtest(run.pk)
    assert run_backtest(run.pk) == "not claimed"
    assert BacktestTicket.objects.filter(run=run).count() == 6
    stuck = _start(org["erin"], django_capture_on_commit_callbacks)
    BacktestRun.objects.filter(pk=stuck.pk).update(status="running")  # its worker died mid-run
    assert run_backtest(stuck.pk) == "not claimed"
    stuck.refresh_from_db()
    assert (stuck.status, stuck.error) == (
        "failed",
        "interrupted: the worker stopped during the run; start it again",
    )


def test_a_model_outage_costs_each_ticket_not_the_run(org, history, django_capture_on_commit_callbacks):
    run = _start(org["erin"], django_capture_on_commit_callbacks)
    with mock.patch("agents.replay.understand_batch", side_effect=ModelUnavailable("down")):
        run_backtest(run.pk)
    run.refresh_from_db()
    assert (run.status, run.processed) == ("done", 6)
    assert set(BacktestTicket.objects.filter(run=run).values_list("after_outcome", flat=True)) == {"error"}


def test_a_failure_is_recorded_on_the_run(org, history, django_capture_on_commit_callbacks):
    run = _start(org["erin"], django_capture_on_commit_callbacks)
    with mock.patch("insights.backtest.history", side_effect=RuntimeError("database went away")):
        assert run_backtest(run.pk) == "failed"
    run.refresh_from_db()
    assert run.error == "RuntimeError: database went away"


def test_queue_and_limit_select_the_tickets(org, history, django_capture_on_commit_callbacks):
    software = _start(org["erin"], django_capture_on_commit_callbacks, queue="software")
    assert software.total == 2  # zoom and tableau, where the router sent them (neither is in a queue)
    latest = _start(org["erin"], django_capture_on_commit_callbacks, limit=2)
    run_backtest(latest.pk)
    assert sorted(BacktestTicket.objects.filter(run=latest).values_list("ticket_id", flat=True)) == [
        history["slack"].pk,
        history["zoom_other"].pk,
    ]


# The pages ----------------------------------------------------------------------------------------


def _form(**overrides: Any) -> dict[str, Any]:
    today = timezone.localdate().isoformat()
    form = {"period_start": today, "period_end": today, "queue": "", "limit": ""}
    for action in CatalogAction.objects.all():
        form[f"w_action_{action.pk}_enabled"] = "1" if action.enabled else "0"
        form[f"w_action_{action.pk}_requires_staff_approval"] = "1" if action.requires_staff_approval else "0"
        form[f"w_action_{action.pk}_autonomous_max_cost_usd"] = action.autonomous_max_cost_usd or ""
        form[f"w_action_{action.pk}_lead_approval_above_usd"] = action.lead_approval_above_usd or ""
    for software in Software.objects.all():
        form[f"w_software_{software.pk}_yearly_cost_usd"] = software.yearly_cost_usd
    for group in DirectoryGroup.objects.all():
        form[f"w_group_{group.pk}_tier"] = group.tier
    form.update(overrides)
    return form


def test_a_manager_runs_a_backtest_from_the_page_and_reads_the_result(
    client, org, history, django_capture_on_commit_callbacks
):
    client.force_login(org["erin"])
    page = client.get(reverse("governance:dashboard_backtest"))
    assert page.status_code == 200 and "<script" not in page.content.decode()
    zoom = Software.objects.get(name="Zoom")
    install = CatalogAction.objects.get(code="install_software")
    data = _form(
        **{
            f"w_software_{zoom.pk}_yearly_cost_usd": "300",
            f"w_action_{install.pk}_lead_approval_above_usd": "2000",
        }
    )
    with (
        patch_task("insights.tasks.run_backtest") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(reverse("governance:dashboard_backtest"), data)
    run = BacktestRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/governance/dashboard/backtest/{run.pk}/"
    assert send.call_count == 1
    assert run.overrides == {
        "changes": [
            {
                "kind": "action",
                "name": "install_software",
                "field": "lead_approval_above_usd",
                "before": 1500,
                "after": 2000,
            },
            {"kind": "software", "name": "Zoom", "field": "yearly_cost_usd", "before": 0, "after": 300},
        ]
    }
    waiting = client.get(reverse("governance:dashboard_backtest_run", args=[run.pk]))
    assert waiting["Refresh"] == "3" and "Waiting for a worker: 0 of 6 tickets" in waiting.content.decode()
    run_backtest(run.pk)
    done = client.get(reverse("governance:dashboard_backtest_run", args=[run.pk]))
    html = done.content.decode()
    assert "Refresh" not in done and "<script" not in html
    assert "Zoom: licence cost (USD a year) 0 → 300" in html and "6 tickets replayed in" in html
    assert f'href="/staff/tickets/{history["zoom"].pk}/"' in html
    assert (
        "executed: install_software (Zoom)" in html and "sent for approval: install_software (Zoom)" in html
    )
    assert f'href="/staff/tickets/{history["monitor"].pk}/"' not in html  # unchanged: not listed
    only = client.get(reverse("governance:dashboard_backtest_run", args=[run.pk]) + "?change=newly_acted")
    assert f'href="/staff/tickets/{history["slack"].pk}/"' in only.content.decode()
    assert f'href="/staff/tickets/{history["zoom"].pk}/"' not in only.content.decode()
    csv = client.get(reverse("governance:dashboard_backtest_run", args=[run.pk]) + "?format=csv")
    assert csv["Content-Disposition"] == f'attachment; filename="backtest-{run.pk}.csv"'
    lines = csv.content.decode().splitlines()
    assert lines[0] == ",".join(backtest_export.CSV_COLUMNS)
    assert len(lines) == 7
    zoom_line = next(line for line in lines if line.startswith(history["zoom"].reference))
    assert zoom_line.endswith(
        ",execute,install_software,software=Zoom,needs_approval,install_software,software=Zoom,"
        "software_manager approver_not_requester,Zoom costs 300 USD a year,approval_now_required"
    )


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"period_start": "2026-03-10", "period_end": "2026-03-01"}, "The period ends before it starts."),
        ({"period_start": "2025-01-01", "period_end": "2026-01-02"}, "At most 366 days in one run."),
        ({"queue": "nope"}, "Unknown queue: nope."),
        ({"period_start": ""}, "This field is required."),
        ({"limit": "0"}, "Ensure this value is greater than or equal to 1."),
        ({"limit": "20001"}, "Ensure this value is less than or equal to 20000."),
    ],
)
def test_bad_input_gets_a_clear_error_and_starts_nothing(client, org, fields, error):
    client.force_login(org["erin"])
    response = client.post(reverse("governance:dashboard_backtest"), _form(**fields))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not BacktestRun.objects.exists() and not AuditEvent.objects.filter(code="backtest.run").exists()


def test_more_tickets_than_one_run_holds_is_refused(client, org, history, monkeypatch):
    monkeypatch.setattr(backtest, "MAX_TICKETS", 5)
    client.force_login(org["erin"])
    response = client.post(reverse("governance:dashboard_backtest"), _form())
    assert (
        "6 tickets match; at most 5 in one run: narrow the period or set a limit."
        in response.content.decode()
    )
    assert not BacktestRun.objects.exists() and not AuditEvent.objects.filter(code="backtest.run").exists()
    assert client.post(reverse("governance:dashboard_backtest"), _form(limit="5")).status_code == 302


def test_a_negative_licence_cost_is_refused(client, org):
    client.force_login(org["erin"])
    zoom = Software.objects.get(name="Zoom")
    response = client.post(
        reverse("governance:dashboard_backtest"), _form(**{f"w_software_{zoom.pk}_yearly_cost_usd": "-5"})
    )
    assert "Ensure this value is greater than or equal to 0." in response.content.decode()
    assert not BacktestRun.objects.exists()


@pytest.mark.parametrize("who", ["alice", "ivan", "anonymous"])
def test_only_managers_reach_the_backtest(client, org, history, who, django_capture_on_commit_callbacks):
    run = _start(org["erin"], django_capture_on_commit_callbacks)
    run_backtest(run.pk)
    events, runs = AuditEvent.objects.count(), BacktestRun.objects.count()
    if who != "anonymous":
        client.force_login(org[who])
    urls = [
        reverse("governance:dashboard_backtest"),
        reverse("governance:dashboard_backtest_run", args=[run.pk]),
        reverse("governance:dashboard_backtest_run", args=[run.pk]) + "?format=csv",
    ]
    with (
        patch_task("insights.tasks.run_backtest") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        responses = [client.get(url) for url in urls]
        responses.append(client.post(urls[0], _form()))
    for response in responses:
        if who == "anonymous":
            assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
        else:
            assert response.status_code == 403
    assert send.call_count == 0
    assert (AuditEvent.objects.count(), BacktestRun.objects.count()) == (events, runs)


def test_the_service_refuses_a_non_manager(org):
    today = timezone.localdate()
    with pytest.raises(PermissionDenied, match=r"Only managers run backtests\."):
        backtest.backtest_start(by=org["ivan"], start=today, end=today)
    assert not BacktestRun.objects.exists()


# Shadow agreement on the dashboard ------------------------------------------------------------------


def test_dashboard_shows_shadow_agreement_with_its_definition(client, org):
    """Three shadow decisions to act on staff-resolved tickets, staff did exactly that once: 1/3. An
    escalation, a ticket staff have not resolved and a decision outside the period do not count."""
    alice = org["alice"]
    agreed, differed, other, unresolved, escalated, old = (_ticket(alice, "x") for _ in range(6))

    def decided(ticket: Ticket, outcome: str, digest: str) -> None:
        audit_record(
            code="policy.decided",
            actor_kind="agent",
            ticket_id=ticket.pk,
            data={"decision": {"outcome": outcome, "digest": digest}, "mode": "shadow", "shadow": True},
        )

    for ticket, outcome in [(agreed, "execute"), (differed, "needs_approval"), (other, "execute")]:
        decided(ticket, outcome, f"d{ticket.pk}")
    decided(unresolved, "execute", f"d{unresolved.pk}")
    decided(escalated, "escalate", f"d{escalated.pk}")
    long_ago = timezone.now() - timedelta(days=400)
    with mock.patch("core.audit.timezone.now", return_value=long_ago):  # events are append-only
        decided(old, "execute", f"d{old.pk}")
    Ticket.objects.filter(pk__in=[agreed.pk, differed.pk, other.pk, escalated.pk, old.pk]).update(
        status=TicketStatus.RESOLVED, resolver_kind="staff"
    )
    Execution.objects.create(
        idempotency_key="k1",
        ticket=agreed,
        action="install_software",
        digest=f"d{agreed.pk}",
        status="succeeded",
    )
    Execution.objects.create(  # staff did something else on this one
        idempotency_key="k2", ticket=differed, action="install_software", digest="other", status="succeeded"
    )
    client.force_login(org["erin"])
    html = client.get(reverse("governance:dashboard") + "?days=28").content.decode()
    card = html[html.index('id="shadow-agreement"') :]
    card = card[: card.index("</article>")]
    assert "Shadow agreement" in card
    assert '<div class="metric-value">33.3%</div>' in card
    assert "1 of 3 shadow decisions" in card
    assert "the share where staff carried out exactly that action" in card


def test_dashboard_says_when_there_is_no_shadow_decision(client, org):
    client.force_login(org["erin"])
    html = client.get(reverse("governance:dashboard")).content.decode()
    card = html[html.index('id="shadow-agreement"') :]
    assert '<div class="metric-value">n/a</div>' in card[: card.index("</article>")]
    assert "No shadow-mode decisions on staff-resolved tickets in the period." in card


def test_shadow_agreement_is_one_query_whatever_the_number_of_decisions(org, django_assert_num_queries):
    from governance.modes import shadow_agreement

    for n in range(12):
        ticket = _ticket(org["alice"], "x")
        audit_record(
            code="policy.decided",
            actor_kind="agent",
            ticket_id=ticket.pk,
            data={"decision": {"outcome": "execute", "digest": f"d{n}"}, "mode": "shadow", "shadow": True},
        )
        Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.RESOLVED, resolver_kind="staff")
        if n % 3 == 0:
            Execution.objects.create(
                idempotency_key=f"k{n}",
                ticket=ticket,
                action="reset_password",
                digest=f"d{n}",
                status="succeeded",
            )
    now = timezone.now()
    with django_assert_num_queries(1):
        result = shadow_agreement(since=now - timedelta(hours=1), until=now + timedelta(hours=1))
    assert (result.decided, result.agreed, result.rate) == (12, 4, 4 / 12)
