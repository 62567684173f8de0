"""Staff carry out catalog actions from the workspace through the same governance path as the agent:
decided by the policy, audited, approvals still apply; a "person decides" leaves the ticket with them."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from core.models import AuditEvent
from governance.approvals import ApprovalError, approval_decide
from governance.demo import demo_catalog_load
from governance.executor import execution_run
from governance.models import ApprovalRequest, ApprovalStatus, DirectoryMembership, Execution
from governance.selectors import pending_steps_for
from governance.types import Outcome
from servicedesk.demo_org import demo_org_load
from servicedesk.models import Comment, Notification, Queue, ResolverKind, Ticket, TicketStatus, Visibility
from servicedesk.services import TicketError
from tests.factories import TicketFactory
from workspace import agent_actions
from workspace import services as staff_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(db):
    demo_org_load(password="demo")
    demo_catalog_load()
    return {user.username: user for user in User.objects.all()}


@pytest.fixture
def ticket(org):
    ticket = TicketFactory(
        requester=org["alice"],
        subject="Help",
        status=TicketStatus.ESCALATED,
        queue=Queue.objects.team("general"),
    )
    staff_services.ticket_claim(ticket_id=ticket.pk, user=org["ivan"])
    return Ticket.objects.get(pk=ticket.pk)


def test_allowed_action_is_claimed_for_the_executor_and_audited_as_the_staff_member(
    org, ticket, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        decision = agent_actions.catalog_action_run(
            ticket_id=ticket.pk, actor=org["ivan"], action="unlock_account", params={}
        )
    assert decision.outcome == Outcome.EXECUTE
    execution = Execution.objects.get()
    assert (execution.ticket, execution.action, execution.status) == (ticket, "unlock_account", "started")
    assert len(callbacks) == 1  # the executor task, after commit
    event = AuditEvent.objects.get(code="policy.decided")
    assert (event.actor_kind, event.actor_id, event.ticket_id) == ("user", org["ivan"].pk, ticket.pk)
    assert event.data["proposal"]["source"] == "staff"
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.IN_PROGRESS  # still with ivan
    assert (
        Comment.objects.order_by("id").last().body
        == "Ivan Petrov ran “Unlock account”: the executor is carrying it out."
    )


def test_action_that_needs_approval_waits_for_it(org, ticket):
    decision = agent_actions.catalog_action_run(
        ticket_id=ticket.pk, actor=org["ivan"], action="reset_mfa", params={}
    )
    assert decision.outcome == Outcome.NEEDS_APPROVAL
    approval = ApprovalRequest.objects.get()
    assert (approval.action, approval.status, approval.rule_ids) == (
        "reset_mfa",
        ApprovalStatus.PENDING,
        ["mfa_staff_approval", "approver_not_requester"],
    )
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.AWAITING_APPROVAL
    assert Execution.objects.count() == 0
    approvers = set(
        Notification.objects.filter(code="approval.requested").values_list("recipient__username", flat=True)
    )
    assert approvers == {"judy"}  # four eyes: ivan ran it, so he cannot approve it
    assert approval.started_by == org["ivan"]
    assert Notification.objects.filter(recipient=org["alice"], code="ticket.status_changed").order_by(
        "id"
    ).last().text == (f"{ticket.reference} is now “Awaiting approval”: Help")


def test_approved_staff_action_is_done_and_resolved_in_the_staff_members_name(
    org, ticket, django_capture_on_commit_callbacks
):
    agent_actions.catalog_action_run(ticket_id=ticket.pk, actor=org["ivan"], action="reset_mfa", params={})
    step = ApprovalRequest.objects.get().steps.get()
    before = AuditEvent.objects.count()
    with pytest.raises(ApprovalError, match="cannot decide"):
        approval_decide(step_id=step.pk, user=org["ivan"], approve=True)
    assert (AuditEvent.objects.count(), ApprovalRequest.objects.get().status) == (before, "pending")
    assert pending_steps_for(org["ivan"]) == [] and pending_steps_for(org["judy"]) == [step]

    with django_capture_on_commit_callbacks() as callbacks:
        approval_decide(step_id=step.pk, user=org["judy"], approve=True)
    assert len(callbacks) == 1
    execution_run(execution_id=Execution.objects.get().pk)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.resolver_kind, ticket.assignee) == (
        TicketStatus.RESOLVED,
        ResolverKind.STAFF,
        org["ivan"],
    )
    assert ticket.status_changes.order_by("id").last().actor_kind == "system"
    last = ticket.comments.order_by("id").last()
    assert (last.author_kind, last.visibility) == ("system", Visibility.PUBLIC)
    assert last.body.startswith("Your MFA enrolment was reset.")
    assert Execution.objects.get().status == "succeeded"


def test_action_governance_refuses_stays_with_the_person_and_is_audited(org, ticket):
    before = set(DirectoryMembership.objects.values_list("account__username", "group__name"))
    decision = agent_actions.catalog_action_run(
        ticket_id=ticket.pk, actor=org["ivan"], action="grant_group_access", params={"group": "domain-admins"}
    )
    assert (decision.outcome, decision.rule_ids) == (Outcome.ESCALATE, ("privileged_group",))
    ticket.refresh_from_db()
    assert (ticket.status, ticket.queue.slug, ticket.assignee) == (
        TicketStatus.IN_PROGRESS,
        "general",
        org["ivan"],
    )
    assert (Execution.objects.count(), ApprovalRequest.objects.count()) == (0, 0)
    assert set(DirectoryMembership.objects.values_list("account__username", "group__name")) == before
    event = AuditEvent.objects.get(code="policy.decided")
    assert (event.actor_id, event.data["decision"]["outcome"]) == (org["ivan"].pk, "escalate")
    note = Comment.objects.filter(visibility=Visibility.INTERNAL).order_by("id").last()
    assert note.body == (
        "Ivan Petrov tried “Grant group access: domain-admins”; governance says a person decides: "
        "domain-admins is privileged: a human decides. "
        "Privileged group: never granted by the agent; a human decides."
    )
    assert not Comment.objects.filter(visibility=Visibility.PUBLIC).exists()


def test_actions_run_only_on_tickets_with_the_service_desk(org):
    resolved = TicketFactory(requester=org["alice"], status=TicketStatus.RESOLVED)
    with pytest.raises(TicketError, match="with the service desk"):
        agent_actions.catalog_action_run(
            ticket_id=resolved.pk, actor=org["ivan"], action="unlock_account", params={}
        )
    assert (Execution.objects.count(), AuditEvent.objects.count()) == (0, 0)


def test_action_form_runs_through_governance_and_explains_a_refusal(org, ticket, client):
    client.force_login(org["ivan"])
    url = reverse("staff:action", kwargs={"ticket_id": ticket.pk})
    response = client.post(url, {"action": "grant_group_access", "group": "payroll-admin"}, follow=True)
    assert (
        "Governance says a person decides: payroll-admin is privileged: a human decides."
        in response.content.decode()
    )
    response = client.post(url, {"action": "install_software", "software": ""}, follow=True)
    assert "Choose the software." in response.content.decode()
    response = client.post(url, {"action": "install_software", "software": "Zoom"}, follow=True)
    assert "Allowed by policy: the executor is carrying it out" in response.content.decode()
    assert list(Execution.objects.values_list("action", "params")) == [
        ("install_software", {"software": "Zoom"})
    ]
