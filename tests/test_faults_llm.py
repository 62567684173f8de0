"""A language model that misbehaves: every ticket still ends with a person, with the reason, after a
bounded number of model calls, and nothing is done in the directory.

A real worker process runs the agent with ``AGENT_LLM=openai-compatible:fake-model@<url>`` and
``AGENT_LLM_ROLE=confirm`` (the model must confirm every action the router would take), so each call
goes through langchain-openai and httpx to ``FakeChatServer``, which answers each ticket by its text:
long after the client's timeout, HTTP 500, garbage text, a body that is not JSON, a call of a tool
it was not offered, or ever more tool calls. A control ticket gets a correct answer and is resolved,
which shows the model's answer is what decides.
"""

import pytest
from django.contrib.auth.models import User

from agents.models import AgentRun
from governance.demo import demo_catalog_load
from governance.models import CatalogAction, DirectoryMembership, Execution, SoftwareAssignment
from servicedesk.demo_org import demo_org_load
from servicedesk.models import EscalationReason, Ticket, TicketStatus
from servicedesk.services import ticket_submit
from tests.fault_tools import FAULTS_SKIP, FakeChatServer, Worker, new_queue, ticket_text, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.django_db(transaction=True), FAULTS_SKIP]

LLM_RETRIES = 1  # quick retries of one call
TASK_RETRIES = 1  # the ticket's task retried once, 10 s later
TRANSIENT_CALLS = (1 + LLM_RETRIES) * (1 + TASK_RETRIES)

# Ticket text -> how the fake model answers it, the calls that takes, and the words of the reason.
CASES = {
    "please install Zoom": ("hang", TRANSIENT_CALLS, "TimeoutError: Request timed out"),
    "I need Slack on my laptop": ("server_error", TRANSIENT_CALLS, "(OpenAIAPIError: Error code: 500"),
    "can I get Visual Studio Code": ("garbage", 2, "malformed answer: no tool call"),
    "please install 7-Zip": ("garbage_body", 1, "model error"),
    "I need VPN access": ("unknown_tool", 2, "malformed answer: unknown tool 'delete_user'"),
    "I forgot my password": ("endless_tools", 2, "malformed answer: 12 tool calls instead of one"),
}
CONTROL = "please add me to the wiki editors group"
PEOPLE = ["alice", "carol", "dave"]


def _behaviour(request: dict) -> str:
    text = ticket_text(request)
    for key, (behaviour, _calls, _reason) in CASES.items():
        if key in text:
            return behaviour
    return "correct"


def test_misbehaving_model_sends_every_ticket_to_a_person_with_the_reason(settings, tmp_path):
    demo_org_load(password="demo")
    demo_catalog_load()
    CatalogAction.objects.update(hourly_budget=100_000)
    people = {u.username: u for u in User.objects.filter(username__in=PEOPLE)}
    queue = new_queue("faults-llm")
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    with FakeChatServer(_behaviour) as model:
        worker = Worker(
            queue=queue,
            log_path=tmp_path / "worker.log",
            concurrency=2,
            env={
                "AGENT_ENABLED": "true",
                "AGENT_LLM": f"openai-compatible:fake-model@{model.base_url}",
                "AGENT_LLM_ROLE": "confirm",
                "AGENT_LLM_TIMEOUT_SECONDS": "1",
                "AGENT_LLM_RETRIES": str(LLM_RETRIES),
                "AGENT_TASK_RETRIES": str(TASK_RETRIES),
            },
        )
        worker.start()
        try:
            tickets = {
                (name, text): ticket_submit(requester=person, subject=text, description=text)
                for name, person in people.items()
                for text in [*CASES, CONTROL]
            }
            ids = [t.pk for t in tickets.values()]
            # A hang guard: the slowest case is two task attempts of two 1 s timeouts, 10 s apart.
            undecided = Ticket.objects.filter(
                pk__in=ids, status__in=[TicketStatus.NEW, TicketStatus.TRIAGING]
            )
            wait_until(
                lambda: not undecided.exists(),
                timeout=300,
                what="every ticket decided",
            )
        finally:
            worker.stop()
            print(worker.log_tail())

    for (name, text), ticket in tickets.items():
        ticket.refresh_from_db()
        runs = list(AgentRun.objects.filter(ticket=ticket).order_by("id"))
        if text == CONTROL:
            assert (ticket.status, ticket.resolver_kind) == (TicketStatus.RESOLVED, "agent"), ticket
            assert DirectoryMembership.objects.filter(
                account__username=name, group__name="wiki-editors"
            ).exists()
            assert [r.llm_calls for r in runs] == [1]
            continue
        behaviour, calls, reason = CASES[text]
        assert ticket.status == TicketStatus.ESCALATED, (behaviour, ticket.status)
        assert ticket.escalation_reason == EscalationReason.AGENT_FAILED, behaviour
        assert reason in ticket.escalation_detail, (behaviour, ticket.escalation_detail)
        assert ticket.queue_id is not None
        assert not Execution.objects.filter(ticket=ticket).exists()
        # The model was called exactly as often as the retry settings allow, then no more.
        assert len(model.calls_for(behaviour)) == calls * len(PEOPLE), behaviour
        assert runs[-1].outcome == "escalate"
        assert sum(r.llm_calls for r in runs) <= settings.AGENT_LLM_MAX_CALLS * (1 + TASK_RETRIES)
    assert model.calls_for("correct"), "the control tickets were never sent to the model"
    # Nothing the misbehaving model was asked about happened in the directory.
    assert not SoftwareAssignment.objects.filter(account__username__in=PEOPLE).exists()
    assert not DirectoryMembership.objects.filter(
        account__username__in=PEOPLE, group__name="vpn-users"
    ).exists()
