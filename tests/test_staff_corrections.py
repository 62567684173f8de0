"""Staff correct the agent: verdicts are stored, counted in the metrics (error rate) and exported as
evaluation rows in the agent_eval JSONL format."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from agents.models import AgentRun
from governance.demo import demo_catalog_load
from servicedesk.models import AgentCorrection, Queue, Role, TicketStatus
from servicedesk.services import TicketError
from tests.factories import TicketFactory, UserFactory
from workspace import agent_actions
from workspace.corrections import evaluation_row
from workspace.metrics import workspace_metrics

pytestmark = pytest.mark.django_db


@pytest.fixture
def ivan(db):
    return UserFactory(username="ivan", first_name="Ivan", roles=[Role.EMPLOYEE, Role.SERVICE_DESK])


def _handled(alice, *, subject="Need the VPN", action="grant_group_access", params=None, outcome="execute"):
    ticket = TicketFactory(
        requester=alice,
        subject=subject,
        description="Working from home next week.",
        status=TicketStatus.ESCALATED,
        queue=Queue.objects.team("accounts-access"),
    )
    AgentRun.objects.create(
        ticket=ticket,
        router={"queue": "accounts-access"},
        proposal={"action": action, "params": params if params is not None else {"group": "vpn-users"}},
        outcome=outcome,
    )
    return ticket


def test_agent_was_right_copies_what_it_did(ivan, alice):
    ticket = _handled(alice)
    correction = agent_actions.agent_correction_record(ticket_id=ticket.pk, reviewer=ivan, wrong=False)
    assert (correction.wrong, correction.agent_action, correction.agent_params, correction.agent_outcome) == (
        False,
        "grant_group_access",
        {"group": "vpn-users"},
        "execute",
    )
    assert evaluation_row(correction) == {
        "id": f"staff-{ticket.reference}",
        "text": "Need the VPN\n\nWorking from home next week.",
        "requester": "alice",
        "expected": {"action": "grant_group_access", "params": {"group": "vpn-users"}},
        "source": f"staff verdict on {ticket.reference}: agent right (ivan)",
        "split": "dev",
    }


def test_a_password_in_the_ticket_is_masked_in_the_exported_row(ivan, alice):
    ticket = _handled(alice, subject="Locked out, my password is Tr0ub4dor&3x")
    correction = agent_actions.agent_correction_record(ticket_id=ticket.pk, reviewer=ivan, wrong=False)
    text = evaluation_row(correction)["text"]
    assert "Tr0ub4dor" not in text
    assert text.startswith("Locked out, my password is [redacted")


def test_agent_was_wrong_with_the_right_action(ivan, alice):
    ticket = _handled(alice)
    agent_actions.agent_correction_record(
        ticket_id=ticket.pk,
        reviewer=ivan,
        wrong=True,
        correct_action="install_software",
        correct_params={"software": "Zoom", "group": "ignored"},
        note="She asked for Zoom, not the VPN",
    )
    correction = AgentCorrection.objects.get()
    assert (correction.correct_action, correction.correct_params, correction.note) == (
        "install_software",
        {"software": "Zoom"},
        "She asked for Zoom, not the VPN",
    )
    assert evaluation_row(correction)["expected"] == {
        "action": "install_software",
        "params": {"software": "Zoom"},
    }


def test_agent_was_wrong_and_a_person_should_have_had_it_in_another_queue(ivan, alice):
    ticket = _handled(alice, subject="Laptop fan loud")
    agent_actions.agent_correction_record(
        ticket_id=ticket.pk, reviewer=ivan, wrong=True, correct_action="", correct_queue_slug="hardware"
    )
    row = evaluation_row(AgentCorrection.objects.get(), split="test")
    assert (row["expected"], row["split"]) == ({"action": None, "params": {}, "queue": "hardware"}, "test")


def test_agent_right_to_escalate_exports_no_action_and_its_queue(ivan, alice):
    ticket = _handled(alice, action=None, params={}, outcome="escalate")
    correction = agent_actions.agent_correction_record(ticket_id=ticket.pk, reviewer=ivan, wrong=False)
    assert evaluation_row(correction)["expected"] == {
        "action": None,
        "params": {},
        "queue": "accounts-access",
    }


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({}, "Say what the right action was, or which queue"),
        ({"correct_action": "delete_everything"}, "'delete_everything' is not a catalog action."),
        ({"correct_action": "grant_group_access"}, "Say which group was right."),
        ({"correct_queue_slug": "printers"}, "There is no queue 'printers'."),
    ],
)
def test_a_wrong_verdict_must_say_what_was_right_and_saves_nothing_otherwise(ivan, alice, kwargs, message):
    ticket = _handled(alice)
    with pytest.raises(TicketError, match=message):
        agent_actions.agent_correction_record(ticket_id=ticket.pk, reviewer=ivan, wrong=True, **kwargs)
    assert AgentCorrection.objects.count() == 0


def test_no_verdict_on_a_ticket_the_agent_never_touched(ivan, alice):
    ticket = TicketFactory(requester=alice, status=TicketStatus.ESCALATED)
    with pytest.raises(TicketError, match="The agent did not handle this ticket"):
        agent_actions.agent_correction_record(ticket_id=ticket.pk, reviewer=ivan, wrong=False)
    assert AgentCorrection.objects.count() == 0


def test_one_verdict_per_ticket_the_latest_wins(ivan, alice):
    ticket = _handled(alice)
    agent_actions.agent_correction_record(ticket_id=ticket.pk, reviewer=ivan, wrong=False)
    agent_actions.agent_correction_record(
        ticket_id=ticket.pk, reviewer=ivan, wrong=True, correct_queue_slug="network"
    )
    assert list(AgentCorrection.objects.values_list("wrong", "correct_queue__slug")) == [(True, "network")]


def test_error_rate_in_the_metrics(ivan, alice, client):
    for n, wrong in enumerate([True, False, False, False]):
        ticket = _handled(alice, subject=f"t{n}")
        agent_actions.agent_correction_record(
            ticket_id=ticket.pk, reviewer=ivan, wrong=wrong, correct_queue_slug="network"
        )
    metrics = workspace_metrics(days=30)
    assert (metrics.reviewed, metrics.wrong, metrics.error_rate, metrics.wrong_queue) == (4, 1, 0.25, 1)
    client.force_login(ivan)
    page = client.get(reverse("staff:metrics")).content.decode()
    assert '<div class="metric-value">25.0%</div>' in page
    assert "1 marked wrong of 4 reviewed" in page


def test_managers_metrics_count_wrong_verdicts_as_errors(ivan, alice):
    rollups = pytest.importorskip("insights.rollups")
    right, wrong = _handled(alice, subject="right"), _handled(alice, subject="wrong")
    agent_actions.agent_correction_record(ticket_id=right.pk, reviewer=ivan, wrong=False)
    agent_actions.agent_correction_record(
        ticket_id=wrong.pk, reviewer=ivan, wrong=True, correct_queue_slug="network"
    )
    assert rollups.marked_wrong([right.pk, wrong.pk]) == {wrong.pk}


def test_verdict_form_in_the_workspace(ivan, alice, client):
    demo_catalog_load()  # the form offers the catalog's software
    ticket = _handled(alice)
    client.force_login(ivan)
    url = reverse("staff:correction", kwargs={"ticket_id": ticket.pk})
    response = client.post(
        url, {"verdict": "wrong", "correct_action": "install_software", "software": "Zoom"}, follow=True
    )
    assert "Thanks: your verdict on the agent is recorded." in response.content.decode()
    assert "Agent was wrong" in response.content.decode()
    assert AgentCorrection.objects.get().correct_params == {"software": "Zoom"}


def test_export_download_and_command_give_the_same_rows(ivan, alice, client, tmp_path):
    first, second = _handled(alice, subject="a"), _handled(alice, subject="b")
    agent_actions.agent_correction_record(ticket_id=first.pk, reviewer=ivan, wrong=False)
    agent_actions.agent_correction_record(
        ticket_id=second.pk, reviewer=ivan, wrong=True, correct_queue_slug="general"
    )
    client.force_login(ivan)
    response = client.get(reverse("staff:corrections_export"))
    assert response["Content-Type"] == "application/jsonl; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="agent-corrections-')
    downloaded = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert [row["id"] for row in downloaded] == [f"staff-{first.reference}", f"staff-{second.reference}"]
    wrong_only = b"".join(client.get(reverse("staff:corrections_export") + "?wrong=1").streaming_content)
    assert [json.loads(line)["id"] for line in wrong_only.decode().splitlines()] == [
        f"staff-{second.reference}"
    ]

    out = StringIO()
    call_command("export_corrections", stdout=out)
    assert [json.loads(line) for line in out.getvalue().splitlines()] == downloaded
    target = tmp_path / "rows.jsonl"
    call_command("export_corrections", "--output", str(target), "--wrong-only", stderr=StringIO())
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert set(rows[0]) == {"id", "text", "requester", "expected", "source", "split"}
    assert rows[0]["expected"] == {"action": None, "params": {}, "queue": "general"}
