"""The staff workspace in a real browser (Playwright driving Debian's Chromium), end to end:

an employee submits a hardware ticket → it lands in Hardware → a staff member claims it, writes an
internal note and a public reply → the employee sees the reply and not the note → staff resolves →
the employee reopens it.

Set SCREENSHOTS_DIR to keep the screenshots (queue, workspace with the agent panel, approvals inbox).
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from agents.models import AgentRun
from governance.demo import demo_catalog_load
from governance.dispatch import proposal_dispatch
from governance.models import ApprovalRequest
from governance.types import Proposal
from servicedesk import services
from servicedesk.demo_org import demo_org_load
from servicedesk.models import (
    TEAM_QUEUES,
    AuthorKind,
    CannedReply,
    Comment,
    EscalationReason,
    Priority,
    Queue,
    StatusChange,
    Ticket,
    TicketStatus,
    TicketView,
    Visibility,
)
from tests.test_browser import CHROMIUM_ARGS, _chromium_path
from workspace import agent_actions
from workspace import services as staff_services

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser(live_server, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium_path(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _page(browser, live_server, username: str, *, width: int = 1280, height: int = 860):
    page = browser.new_context(
        viewport={"width": width, "height": height}, base_url=live_server.url
    ).new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def _shot(page, name: str, *, full_page: bool = True) -> None:
    folder = os.environ.get("SCREENSHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=full_page)


class _NoAgent(Exception):
    pass


def _route(ticket_id: int, settings) -> None:
    """What the worker does with a new ticket, run here in-process so the test needs no broker.

    With the agent installed its router picks the queue. A build without the agent (whose stand-in
    sends everything to General as "agent disabled") is rolled back, and the ticket is escalated to
    Hardware through the same service the agent's decision ends in, with the reason it would give.
    """
    from agents.services import ticket_triage

    settings.AGENT_ENABLED = True
    try:
        with transaction.atomic():
            ticket_triage(ticket_id=ticket_id)
            if Ticket.objects.get(pk=ticket_id).escalation_reason == EscalationReason.AGENT_DISABLED:
                raise _NoAgent
    except _NoAgent:
        services.ticket_escalate(
            ticket_id=ticket_id,
            reason=EscalationReason.OUT_OF_SCOPE,
            detail="no catalog action applies",
            queue_slug="hardware",
        )


def test_hardware_ticket_from_employee_to_staff_and_back(browser, live_server, settings, monkeypatch):
    demo_org_load(password="demo")
    demo_catalog_load()
    monkeypatch.setattr("core.queue.send_task", lambda name, *, args, queue: None)  # routed below, in-process

    alice = _page(browser, live_server, "alice")
    alice.goto("/tickets/new/")
    alice.fill("#id_subject", "Laptop screen cracked")
    alice.fill(
        "#id_description", "I dropped my laptop this morning and the screen is cracked. It still boots."
    )
    alice.click("button:has-text('Submit ticket')")
    alice.wait_for_url("**/tickets/*/")
    ticket = Ticket.objects.get(subject="Laptop screen cracked")

    _route(ticket.pk, settings)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.queue.slug) == (TicketStatus.ESCALATED, "hardware")

    ivan = _page(browser, live_server, "ivan")
    assert ivan.url.endswith("/staff/")  # staff land on the queues
    ivan.click(".staff-nav >> text=Hardware")
    row = ivan.locator("table.queue-table tbody tr", has_text="Laptop screen cracked")
    assert row.locator(".tag-new").inner_text() == "NEW"
    assert "Unassigned" in row.inner_text()
    row.locator("a.t-subject").click()
    ivan.wait_for_url(f"**/staff/tickets/{ticket.pk}/")

    ivan.click("button:has-text('Claim')")
    assert ivan.locator(".message.success").inner_text() == "You have the ticket."
    assert "In progress" in ivan.locator(".ws-tags").inner_text()

    composer = ivan.locator("form.composer-form")
    composer.locator("input[value=internal]").check()
    composer.locator("textarea").fill("Serial 5CD1234; spare T14 on shelf B. Check the warranty first.")
    composer.locator("button[type=submit]").click()
    assert ivan.locator(".message.success").inner_text() == "Internal note added."

    composer.locator("input[value=public]").check()
    composer.locator("textarea").fill(
        "Sorry to hear that, Alice. Bring it to the IT desk at 2pm and we'll swap it."
    )
    composer.locator("input[name=minutes]").fill("10")
    composer.locator("button[type=submit]").click()
    assert ivan.locator(".message.success").inner_text() == "Reply sent to the requester."
    timeline = ivan.locator(".ws-timeline").inner_text()
    assert "Serial 5CD1234" in timeline
    assert "Bring it to the IT desk at 2pm" in timeline

    alice.goto(f"/tickets/{ticket.pk}/")
    page_text = alice.locator("main").inner_text()
    assert "Bring it to the IT desk at 2pm" in page_text
    assert "Serial 5CD1234" not in page_text
    assert "shelf B" not in alice.content()
    assert alice.locator(".nav-bell .nav-count").inner_text() == "2"  # in progress, then the reply
    alice.click(".nav-bell")
    _shot(alice, "employee-notifications", full_page=False)
    alice.goto(f"/tickets/{ticket.pk}/")

    ivan.fill("#id_message", "Screen swapped for a spare T14.")
    ivan.click("button:has-text('Resolve ticket')")
    assert ivan.locator(".message.success").inner_text() == "Resolved. The requester has been told."

    alice.reload()
    assert "Screen swapped for a spare T14." in alice.locator(".timeline").inner_text()
    alice.fill("#id_reason", "The new screen flickers too.")
    alice.click("button:has-text('No, reopen it')")
    assert (
        alice.locator(".message.success").inner_text() == "Ticket reopened. The service desk will follow up."
    )

    ticket.refresh_from_db()
    assert (ticket.status, ticket.queue.slug, ticket.reopened_count) == (TicketStatus.REOPENED, "hardware", 1)
    assert ticket.assignee.username == "ivan"
    notes = Comment.objects.filter(
        ticket=ticket, visibility=Visibility.INTERNAL, author_kind=AuthorKind.STAFF
    )
    assert [c.body for c in notes] == ["Serial 5CD1234; spare T14 on shelf B. Check the warranty first."]
    ivan.goto("/staff/queues/hardware/?scope=mine")
    assert "Reopened" in ivan.locator("table.queue-table").inner_text()


# ---------------------------------------------------------------------------------------------
# Screenshots of a working day: several queues, the agent's understanding, approvals waiting.

TICKETS = [
    # requester, subject, description, queue, priority, hours ago, agent proposal, rules
    ("bob", "VPN drops every 10 minutes at home", "Since Monday the VPN disconnects every ten minutes when "
     "I work from home. Wi-Fi is fine otherwise.", "network", Priority.HIGH, 0.8, None, ()),
    ("carol", "Need Tableau Desktop for the Q3 forecast", "Finance asked me to build the Q3 forecast in "
     "Tableau. Could I get a licence?", "software", Priority.NORMAL, 2.2, None, ()),
    ("dave", "Docking station not detecting second monitor", "The left monitor on my dock stays black. "
     "Tried another cable.", "hardware", Priority.NORMAL, 3, None, ()),
    ("alice", "Printer on 3rd floor jams on every job", "The HP printer by the kitchen jams on every print "
     "job since this morning.", "hardware", Priority.LOW, 4, None, ()),
    ("erin", "Add me to payroll-admin", "I need payroll-admin to check my team's overtime before month "
     "end.", "accounts-access", Priority.NORMAL, 2,
     ("grant_group_access", {"group": "payroll-admin"}, 0.91), ("privileged_group",)),
    ("frank", "Keyboard spilled coffee", "I spilled coffee on my keyboard, several keys stick.",
     "hardware", Priority.NORMAL, 1, None, ()),
    ("gwen", "Wi-Fi in meeting room Atlas keeps dropping", "Guests and staff lose Wi-Fi in Atlas during "
     "calls.", "network", Priority.URGENT, 1, None, ()),
]  # fmt: skip


def _seed_workday() -> Ticket:
    """Tickets in several queues, one with the agent's full understanding; returns that one."""
    demo_org_load(password="demo")
    demo_catalog_load()
    for slug, *_ in TEAM_QUEUES:  # a transactional test empties the tables the migrations filled
        Queue.objects.team(slug)
    now = timezone.now()
    focus = None
    for username, subject, text, queue, priority, hours, proposal, rules in TICKETS:
        requester = User.objects.get(username=username)
        ticket = Ticket.objects.create(
            requester=requester, subject=subject, description=text, priority=priority
        )
        StatusChange.objects.create(
            ticket=ticket, to_status=TicketStatus.NEW, actor_kind=AuthorKind.REQUESTER
        )
        reason = EscalationReason.POLICY if rules else EscalationReason.OUT_OF_SCOPE
        detail = "payroll-admin is privileged: a human decides" if rules else "no catalog action applies"
        services.ticket_escalate(ticket_id=ticket.pk, reason=reason, detail=detail, queue_slug=queue)
        created = now - timedelta(hours=hours, minutes=7)
        Ticket.objects.filter(pk=ticket.pk).update(created_at=created)
        StatusChange.objects.filter(ticket=ticket).update(created_at=created + timedelta(seconds=40))
        Comment.objects.filter(ticket=ticket).update(created_at=created + timedelta(seconds=40))
        action, params, confidence = proposal or (None, {}, 0.0)
        AgentRun.objects.create(
            ticket=ticket,
            router={
                "band": "act" if action else "escalate",
                "queue": queue,
                "candidates": [
                    {"action": action or "out_of_scope", "score": 0.82},
                    {"action": "reset_password", "score": 0.31},
                ],
            },
            proposal={
                "action": action,
                "params": params,
                "confidence": confidence or 0.78,
                "reasons": ["The requester asks for membership of payroll-admin for themselves."]
                if action
                else ["No catalog action fits: a hardware or network fault."],
                "summary": f"{requester.first_name} wants to be added to payroll-admin"
                if action
                else f"{requester.first_name} reports: {subject.lower()}",
            },
            outcome="escalate",
            rule_ids=list(rules or ("no_action",)),
            reason=detail,
            model="gemma-3-270m (local)",
        )
        if action:
            focus = ticket
    assert focus is not None
    ivan = User.objects.get(username="ivan")
    dock = Ticket.objects.get(subject__startswith="Docking")
    staff_services.ticket_claim(ticket_id=dock.pk, user=ivan)
    staff_services.staff_comment_add(
        ticket_id=dock.pk, author=ivan, body="Checked the dock firmware: current.", internal=True
    )
    printer = Ticket.objects.get(subject__startswith="Printer")
    services.comment_add_reply(
        ticket=printer, author=printer.requester, body="It's now jamming on page 2 too."
    )
    CannedReply.objects.get_or_create(  # the migration's defaults are gone in a transactional test
        title="Bring the device to the IT desk",
        defaults={
            "body": "Hi {requester_first_name},\n\nPlease bring the device to the IT desk (2nd floor) "
            "and mention {ticket_reference}.\n\n{staff_first_name}"
        },
    )
    # judy looked at the queue an hour ago; the printer ticket changed since (the requester replied).
    judy = User.objects.get(username="judy")
    for subject in ("Need Tableau", "Docking", "Printer", "Keyboard"):
        seen = Ticket.objects.get(subject__startswith=subject)
        TicketView.objects.create(user=judy, ticket=seen, seen_at=now - timedelta(minutes=50))
    Ticket.objects.filter(subject__startswith="Keyboard").update(updated_at=now - timedelta(hours=1))
    Ticket.objects.filter(subject__startswith="Need Tableau").update(updated_at=now - timedelta(hours=2))
    staff_services.staff_comment_add(
        ticket_id=focus.pk,
        author=ivan,
        body="payroll-admin is privileged: needs Henry's sign-off as well. Asked him by mail.",
        internal=True,
        minutes=5,
    )
    erin = focus.requester
    Comment.objects.create(
        ticket=focus,
        author=erin,
        author_kind=AuthorKind.REQUESTER,
        visibility=Visibility.PUBLIC,
        body="Only for this month's close, if that helps.",
    )
    return focus


def _approvals() -> None:
    """Requests waiting for judy: an MFA reset (service desk), AutoCAD for bob (the lead's step)."""
    for username, subject, action, params, minutes in [
        ("carol", "New phone, authenticator gone", "reset_mfa", {}, 12),
        ("bob", "AutoCAD for the floor plans", "install_software", {"software": "AutoCAD"}, 95),
        ("ivan", "Tableau for the SLA reports", "install_software", {"software": "Tableau Desktop"}, 240),
    ]:
        ticket = Ticket.objects.create(
            requester=User.objects.get(username=username), subject=subject, description=subject
        )
        services.ticket_triage_start(ticket_id=ticket.pk, max_attempts=3)
        proposal = Proposal(action=action, params=params, confidence=0.93, source="agent")
        proposal_dispatch(ticket_id=ticket.pk, proposal=proposal)
        asked = timezone.now() - timedelta(minutes=minutes)
        ApprovalRequest.objects.filter(ticket=ticket).update(created_at=asked)


def test_staff_screens_show_queue_agent_panel_and_approvals(browser, live_server):
    focus = _seed_workday()
    _approvals()
    judy = _page(browser, live_server, "judy", width=1440, height=900)

    judy.goto("/staff/")
    rows = judy.locator("table.queue-table tbody tr")
    assert rows.count() == 7
    assert rows.first.locator(".t-subject").inner_text() == "Wi-Fi in meeting room Atlas keeps dropping"
    assert judy.locator(".nav-count").first.inner_text() == "3"  # approvals waiting for judy
    _shot(judy, "staff-queue", full_page=False)

    judy.goto(f"/staff/tickets/{focus.pk}/")
    panel = judy.locator(".agent-panel").inner_text()
    assert "Grant group access: payroll-admin" in panel
    assert "Privileged group: never granted by the agent; a human decides." in panel
    assert "91%" in panel
    _shot(judy, "staff-workspace")

    judy.goto("/governance/approvals/")
    assert judy.locator(".approval").count() == 3
    _shot(judy, "staff-approvals", full_page=False)

    judy_user = User.objects.get(username="judy")
    agent_actions.agent_correction_record(ticket_id=focus.pk, reviewer=judy_user, wrong=False)
    tableau = Ticket.objects.get(subject__startswith="Need Tableau")
    agent_actions.agent_correction_record(
        ticket_id=tableau.pk,
        reviewer=judy_user,
        wrong=True,
        correct_action="install_software",
        correct_params={"software": "Tableau Desktop"},
    )
    judy.goto("/staff/metrics/")
    assert judy.locator(".metric-card").first.locator(".metric-value").inner_text() == "50.0%"
    _shot(judy, "staff-metrics", full_page=False)
