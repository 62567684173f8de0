"""Decision → execution, approval or a human queue, through the real services and the built-in directory."""

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.utils import timezone

from core.audit import audit_verify
from core.models import AuditEvent
from governance import approvals, dispatch, executor, selectors
from governance.demo import demo_catalog_load
from governance.directory.base import TransientDirectoryError
from governance.models import (
    AgentControl,
    ApprovalRequest,
    ApprovalStatus,
    DirectoryAccount,
    DirectoryMembership,
    Execution,
    ExecutionStatus,
    ResetToken,
    SoftwareAssignment,
)
from governance.tasks import run_execution
from governance.types import Proposal
from servicedesk.demo_org import demo_org_load
from servicedesk.models import EscalationReason, Notification, Ticket, TicketStatus
from tests.factories import TicketFactory
from tests.queue_seam import patch_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(db):
    demo_org_load(password="demo")
    demo_catalog_load()
    return {user.username: user for user in User.objects.all()}


def _triaging_ticket(requester: User, subject: str = "Request") -> Ticket:
    return TicketFactory(requester=requester, subject=subject, status=TicketStatus.TRIAGING)


def _dispatch(ticket: Ticket, action: str | None, captured, **params: str) -> None:
    """Dispatch as the agent would, then run whatever it enqueued after commit (the executor)."""
    with patch_task("governance.tasks.run_execution") as send, captured(execute=True):
        dispatch.proposal_dispatch(ticket_id=ticket.pk, proposal=Proposal(action=action, params=params))
    with captured(execute=True):  # the executor's emails go out after its commit
        for call in send.call_args_list:
            executor.execution_run(execution_id=call.kwargs["args"][0])


def _codes(ticket: Ticket) -> list[str]:
    return list(AuditEvent.objects.filter(ticket_id=ticket.pk).values_list("code", flat=True))


def test_free_software_is_installed_and_the_ticket_resolved(org, django_capture_on_commit_callbacks):
    ticket = _triaging_ticket(org["alice"], "Zoom please")
    _dispatch(ticket, "install_software", django_capture_on_commit_callbacks, software="zoom")
    ticket.refresh_from_db()
    assert (ticket.status, ticket.resolver_kind) == (TicketStatus.RESOLVED, "agent")
    assert ticket.first_response_at is not None
    assert list(
        SoftwareAssignment.objects.filter(account__username="alice").values_list("software__name", flat=True)
    ) == ["Zoom"]
    execution = Execution.objects.get()
    assert execution.status == ExecutionStatus.SUCCEEDED
    assert execution.before["software"] == [] and execution.after["software"] == ["Zoom"]
    assert _codes(ticket) == ["agent.proposed", "policy.decided", "execution.started", "execution.succeeded"]
    assert "Zoom is assigned to your device" in ticket.comments.get().body
    assert audit_verify().ok


def test_execution_delivered_twice_acts_once(org, django_capture_on_commit_callbacks):
    ticket = _triaging_ticket(org["bob"])
    with (
        patch_task("governance.tasks.run_execution") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        dispatch.proposal_dispatch(
            ticket_id=ticket.pk,
            proposal=Proposal(action="grant_group_access", params={"group": "wiki-editors"}),
        )
    execution_id = send.call_args.kwargs["args"][0]
    executor.execution_run(execution_id=execution_id)
    executor.execution_run(execution_id=execution_id)
    assert (
        DirectoryMembership.objects.filter(account__username="bob", group__name="wiki-editors").count() == 1
    )
    assert _codes(ticket).count("execution.started") == 1
    assert Execution.objects.get().attempts == 1


def test_same_decision_dispatched_twice_claims_one_execution(org, django_capture_on_commit_callbacks):
    ticket = _triaging_ticket(org["bob"])
    proposal = Proposal(action="unlock_account")
    with (
        patch_task("governance.tasks.run_execution"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        dispatch.proposal_dispatch(ticket_id=ticket.pk, proposal=proposal)
        dispatch.proposal_dispatch(ticket_id=ticket.pk, proposal=proposal)
    assert Execution.objects.count() == 1


def test_unlock_clears_the_lockout_and_reads_it_back(org, django_capture_on_commit_callbacks):
    DirectoryAccount.objects.filter(username="carol").update(locked=True)
    ticket = _triaging_ticket(org["carol"])
    _dispatch(ticket, "unlock_account", django_capture_on_commit_callbacks)
    assert DirectoryAccount.objects.get(username="carol").locked is False
    assert Execution.objects.get().before["locked"] is True
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.RESOLVED


def test_password_reset_sends_a_one_time_link_and_no_password_anywhere(
    org, django_capture_on_commit_callbacks, client
):
    ticket = _triaging_ticket(org["dave"])
    _dispatch(ticket, "reset_password", django_capture_on_commit_callbacks)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED
    reply = ticket.comments.get().body
    assert "one-time password-reset link to your registered email (d***@example.com)" in reply
    [email] = mail.outbox
    assert email.to == ["dave@example.com"]
    link = re.search(r"http://\S+/governance/reset/(\S+)/", email.body)
    assert link is not None
    token = link.group(1)
    assert token not in reply
    assert not AuditEvent.objects.filter(data__icontains=token).exists()
    assert ResetToken.objects.get().token_hash != token

    page = client.get(f"/governance/reset/{token}/")
    assert page.status_code == 200
    done = client.post(
        f"/governance/reset/{token}/", {"password": "Blue-Horse-Battery-9", "confirm": "Blue-Horse-Battery-9"}
    )
    assert "Password changed" in done.content.decode()
    assert DirectoryAccount.objects.get(username="dave").password_changed_at is not None
    assert client.get(f"/governance/reset/{token}/").status_code == 404  # used up
    assert "password.reset_completed" in AuditEvent.objects.values_list("code", flat=True)


def test_reset_link_refuses_weak_and_mismatched_passwords(org, client):
    ResetToken.objects.create(
        username="dave",
        token_hash=__import__("hashlib").sha256(b"tok").hexdigest(),
        channel="dave@example.com",
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    weak = client.post("/governance/reset/tok/", {"password": "123", "confirm": "123"})
    assert "too short" in weak.content.decode()
    differ = client.post("/governance/reset/tok/", {"password": "Blue-Horse-Battery-9", "confirm": "x"})
    assert "The two passwords differ." in differ.content.decode()
    assert ResetToken.objects.get().used_at is None
    assert DirectoryAccount.objects.get(username="dave").password_changed_at is None


def test_expired_reset_link_is_refused(org, client):
    ResetToken.objects.create(
        username="dave",
        token_hash=__import__("hashlib").sha256(b"old").hexdigest(),
        channel="dave@example.com",
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    response = client.post(
        "/governance/reset/old/", {"password": "Blue-Horse-Battery-9", "confirm": "Blue-Horse-Battery-9"}
    )
    assert response.status_code == 404
    assert DirectoryAccount.objects.get(username="dave").password_changed_at is None


def test_costly_software_waits_for_the_manager_who_approves_in_the_browser(
    org, client, django_capture_on_commit_callbacks
):
    ticket = _triaging_ticket(org["alice"], "Tableau")
    _dispatch(ticket, "install_software", django_capture_on_commit_callbacks, software="Tableau Desktop")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.AWAITING_APPROVAL
    assert "needs the approval of Frank Moreau" in ticket.comments.get().body
    assert list(Notification.objects.values_list("recipient__username", "code")) == [
        ("frank", "approval.requested")
    ]
    approval = ApprovalRequest.objects.get()
    assert (approval.action, approval.params, approval.status) == (
        "install_software",
        {"software": "Tableau Desktop"},
        "pending",
    )

    client.force_login(org["gwen"])  # another manager: not alice's
    assert "Nothing to approve" in client.get("/governance/approvals/").content.decode()
    client.force_login(org["frank"])
    page = client.get("/governance/approvals/").content.decode()
    assert "Install Tableau Desktop" in page and "Alice Chen" in page
    step = approval.steps.get()
    with (
        patch_task("governance.tasks.run_execution") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        client.post("/governance/approvals/", {"step": step.pk, "decision": "approve", "reason": ""})
    executor.execution_run(execution_id=send.call_args.kwargs["args"][0])
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED
    assert SoftwareAssignment.objects.filter(
        account__username="alice", software__name="Tableau Desktop"
    ).exists()
    assert _codes(ticket)[-3:] == ["approval.granted", "execution.started", "execution.succeeded"]


def test_two_approvers_must_both_approve_and_be_different_people(org, django_capture_on_commit_callbacks):
    ticket = _triaging_ticket(org["alice"], "AutoCAD")
    _dispatch(ticket, "install_software", django_capture_on_commit_callbacks, software="AutoCAD")
    approval = ApprovalRequest.objects.get()
    manager_step = approval.steps.get(role="manager")
    lead_step = approval.steps.get(role="service_desk_lead")
    assert selectors.can_decide_step(org["ivan"], lead_step) is False  # staff, not lead
    with (
        patch_task("governance.tasks.run_execution") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        approvals.approval_decide(step_id=manager_step.pk, user=org["frank"], approve=True)
        assert ApprovalRequest.objects.get().status == ApprovalStatus.PENDING
        assert send.call_count == 0
        approvals.approval_decide(step_id=lead_step.pk, user=org["judy"], approve=True)
    assert ApprovalRequest.objects.get().status == ApprovalStatus.APPROVED
    assert send.call_count == 1


def test_rejection_sends_the_ticket_to_the_team_with_the_reason(org, django_capture_on_commit_callbacks):
    ticket = _triaging_ticket(org["alice"])
    _dispatch(ticket, "grant_group_access", django_capture_on_commit_callbacks, group="finance-reports")
    step = ApprovalRequest.objects.get().steps.get()
    with pytest.raises(approvals.ApprovalError, match="reason"):
        approvals.approval_decide(step_id=step.pk, user=org["frank"], approve=False, reason=" ")
    approvals.approval_decide(step_id=step.pk, user=org["frank"], approve=False, reason="Not for interns")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.ESCALATED
    assert ticket.queue.slug == "accounts-access"
    assert ticket.escalation_reason == EscalationReason.APPROVAL_REJECTED
    assert ticket.escalation_detail == "Grant access to the group finance-reports: Not for interns"
    assert not DirectoryMembership.objects.filter(
        account__username="alice", group__name="finance-reports"
    ).exists()
    assert Execution.objects.count() == 0


def test_requester_and_strangers_cannot_approve_and_nothing_changes(org, django_capture_on_commit_callbacks):
    ticket = _triaging_ticket(org["ivan"], "new phone")
    _dispatch(ticket, "reset_mfa", django_capture_on_commit_callbacks)
    step = ApprovalRequest.objects.get().steps.get()
    for user in (org["ivan"], org["alice"], org["frank"]):
        with pytest.raises(approvals.ApprovalError, match="cannot decide"):
            approvals.approval_decide(step_id=step.pk, user=user, approve=True)
    assert ApprovalRequest.objects.get().status == ApprovalStatus.PENDING
    assert step.__class__.objects.get(pk=step.pk).decision == ""
    assert selectors.can_decide_step(org["judy"], step) is True


def test_expired_approval_escalates(org, django_capture_on_commit_callbacks):
    ticket = _triaging_ticket(org["alice"])
    _dispatch(ticket, "reset_mfa", django_capture_on_commit_callbacks)
    ApprovalRequest.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert approvals.approvals_expire() == 1
    assert approvals.approvals_expire() == 0
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.ESCALATED
    assert ticket.escalation_reason == EscalationReason.APPROVAL_EXPIRED
    assert ApprovalRequest.objects.get().status == ApprovalStatus.EXPIRED


def test_a_changed_action_voids_the_pending_approval(org, django_capture_on_commit_callbacks):
    ticket = _triaging_ticket(org["alice"])
    _dispatch(ticket, "install_software", django_capture_on_commit_callbacks, software="Tableau Desktop")
    Ticket.objects.filter(pk=ticket.pk).update(
        status=TicketStatus.TRIAGING
    )  # the requester changed the request
    _dispatch(ticket, "install_software", django_capture_on_commit_callbacks, software="AutoCAD")
    statuses = dict(ApprovalRequest.objects.values_list("params__software", "status"))
    assert statuses == {"Tableau Desktop": ApprovalStatus.VOID, "AutoCAD": ApprovalStatus.PENDING}


def test_kill_switch_pulled_between_decision_and_execution_stops_the_side_effect(
    org, django_capture_on_commit_callbacks
):
    ticket = _triaging_ticket(org["bob"])
    with (
        patch_task("governance.tasks.run_execution") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        dispatch.proposal_dispatch(
            ticket_id=ticket.pk, proposal=Proposal(action="install_software", params={"software": "Slack"})
        )
    AgentControl.objects.update_or_create(pk=1, defaults={"paused": True, "reason": "incident"})
    executor.execution_run(execution_id=send.call_args.kwargs["args"][0])
    assert not SoftwareAssignment.objects.filter(account__username="bob").exists()
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.ESCALATED
    assert ticket.escalation_reason == EscalationReason.EXECUTION_FAILED
    assert "agent paused" in ticket.escalation_detail
    assert _codes(ticket)[-2:] == ["execution.refused", "ticket.escalated"]


def test_paused_agent_sends_new_decisions_to_humans(org, django_capture_on_commit_callbacks):
    AgentControl.objects.update_or_create(pk=1, defaults={"paused": True, "reason": "review"})
    ticket = _triaging_ticket(org["bob"])
    _dispatch(ticket, "unlock_account", django_capture_on_commit_callbacks)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.escalation_reason) == (
        TicketStatus.ESCALATED,
        EscalationReason.AGENT_PAUSED,
    )
    assert Execution.objects.count() == 0


def test_privileged_group_goes_to_a_human(org, django_capture_on_commit_callbacks):
    ticket = _triaging_ticket(org["alice"])
    _dispatch(ticket, "grant_group_access", django_capture_on_commit_callbacks, group="domain-admins")
    ticket.refresh_from_db()
    assert (ticket.status, ticket.queue.slug) == (TicketStatus.ESCALATED, "accounts-access")
    assert ticket.escalation_reason == EscalationReason.POLICY
    assert ticket.escalation_detail == "domain-admins is privileged: a human decides"
    assert Execution.objects.count() == 0 and ApprovalRequest.objects.count() == 0


def test_transient_directory_errors_are_retried_then_escalated(org, django_capture_on_commit_callbacks):
    ticket = _triaging_ticket(org["bob"])
    with (
        patch_task("governance.tasks.run_execution") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        dispatch.proposal_dispatch(
            ticket_id=ticket.pk, proposal=Proposal(action="grant_group_access", params={"group": "vpn-users"})
        )
    execution_id = send.call_args.kwargs["args"][0]
    down = TransientDirectoryError("connection refused")
    with mock.patch("governance.directory.builtin.BuiltinDirectory.read_state", side_effect=down):
        with pytest.raises(TransientDirectoryError):
            executor.execution_run(execution_id=execution_id, last_attempt=False)
        assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.TRIAGING
        run_execution.apply(args=(execution_id,), retries=4)  # the last retry gives up
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.ESCALATED
    assert ticket.escalation_detail == "TransientDirectoryError: connection refused"
    execution = Execution.objects.get()
    assert (execution.status, execution.attempts) == (ExecutionStatus.FAILED, 2)


def test_approvals_through_the_api(org, django_capture_on_commit_callbacks):
    from rest_framework.test import APIClient

    ticket = _triaging_ticket(org["alice"], "Tableau")
    _dispatch(ticket, "install_software", django_capture_on_commit_callbacks, software="Tableau Desktop")
    step = ApprovalRequest.objects.get().steps.get()
    api = APIClient()
    assert api.get("/api/governance/approvals/").status_code == 401
    api.force_authenticate(org["gwen"])  # a manager, but not alice's
    assert api.get("/api/governance/approvals/").json() == []
    refused = api.post(f"/api/governance/approvals/{step.pk}/decide/", {"decision": "approve"}, format="json")
    assert refused.status_code == 404
    assert ApprovalRequest.objects.get().status == ApprovalStatus.PENDING

    api.force_authenticate(org["frank"])
    [row] = api.get("/api/governance/approvals/").json()
    assert (row["step"], row["requester"], row["action"], row["params"], row["description"]) == (
        step.pk,
        "alice",
        "install_software",
        {"software": "Tableau Desktop"},
        "Install Tableau Desktop",
    )
    bad = api.post(f"/api/governance/approvals/{step.pk}/decide/", {"decision": "maybe"}, format="json")
    assert bad.status_code == 400 and "decision" in bad.json()
    no_reason = api.post(
        f"/api/governance/approvals/{step.pk}/decide/", {"decision": "reject"}, format="json"
    )
    assert no_reason.status_code == 409
    assert no_reason.json() == {"detail": "Please give a reason for declining."}
    with (
        patch_task("governance.tasks.run_execution") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        done = api.post(
            f"/api/governance/approvals/{step.pk}/decide/", {"decision": "approve"}, format="json"
        )
    assert done.status_code == 200
    assert ApprovalRequest.objects.get().status == ApprovalStatus.APPROVED
    assert send.call_count == 1
    again = api.post(f"/api/governance/approvals/{step.pk}/decide/", {"decision": "approve"}, format="json")
    assert again.status_code == 409


def _set_mode(org, mode, **cohort):
    from governance.controls import agent_mode_set

    return agent_mode_set(by=org["judy"], mode=mode, reason="phase 3", **cohort)


def test_shadow_mode_executes_nothing_and_hands_the_ticket_to_staff(org, django_capture_on_commit_callbacks):
    _set_mode(org, "shadow")
    ticket = _triaging_ticket(org["alice"], "Zoom")
    _dispatch(ticket, "install_software", django_capture_on_commit_callbacks, software="Zoom")
    ticket.refresh_from_db()
    assert Execution.objects.count() == 0
    assert not SoftwareAssignment.objects.filter(account__username="alice").exists()
    assert (ticket.status, ticket.queue.slug, ticket.escalation_detail) == (
        TicketStatus.ESCALATED,
        "software",
        "the agent is in shadow mode",
    )
    note = ticket.comments.get(visibility="internal")
    assert note.body == (
        "Agent (shadow mode, nothing done) would execute: Install Zoom. Zoom costs 0 USD a year."
    )
    decided = AuditEvent.objects.get(ticket_id=ticket.pk, code="policy.decided")
    assert (decided.data["mode"], decided.data["shadow"]) == ("shadow", True)


def test_shadow_agreement_counts_staff_doing_what_the_agent_would_have_done(
    org, django_capture_on_commit_callbacks
):
    from governance.modes import shadow_agreement

    _set_mode(org, "shadow")
    agreed, differed = _triaging_ticket(org["alice"], "Zoom"), _triaging_ticket(org["bob"], "Slack")
    _dispatch(agreed, "install_software", django_capture_on_commit_callbacks, software="Zoom")
    _dispatch(differed, "install_software", django_capture_on_commit_callbacks, software="Slack")
    # staff install Zoom for alice through the same governance path, and resolve both tickets themselves
    with (
        patch_task("governance.tasks.run_execution") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        dispatch.proposal_dispatch(
            ticket_id=agreed.pk,
            actor=org["ivan"],
            actor_kind="user",
            proposal=Proposal(action="install_software", params={"software": "Zoom"}, source="staff"),
        )
    executor.execution_run(execution_id=send.call_args.kwargs["args"][0])
    Ticket.objects.filter(pk__in=[agreed.pk, differed.pk]).update(
        status=TicketStatus.RESOLVED, resolver_kind="staff"
    )
    result = shadow_agreement(
        since=timezone.now() - timedelta(hours=1), until=timezone.now() + timedelta(hours=1)
    )
    assert (result.decided, result.agreed, result.rate) == (2, 1, 0.5)


def test_pilot_acts_only_for_its_cohort(org, django_capture_on_commit_callbacks):
    _set_mode(org, "pilot", pilot_departments=["Engineering"])
    inside, outside = _triaging_ticket(org["bob"]), _triaging_ticket(org["alice"])
    _dispatch(inside, "install_software", django_capture_on_commit_callbacks, software="Slack")
    _dispatch(outside, "install_software", django_capture_on_commit_callbacks, software="Slack")
    assert Ticket.objects.get(pk=inside.pk).status == TicketStatus.RESOLVED
    outside.refresh_from_db()
    assert (outside.status, outside.escalation_detail) == (
        TicketStatus.ESCALATED,
        "the request is outside the agent's pilot",
    )
    assert list(Execution.objects.values_list("ticket_id", flat=True)) == [inside.pk]


def test_pilot_percentage_is_a_stable_share_of_tickets(org):
    from governance.modes import in_pilot_cohort

    tickets = [TicketFactory(requester=org["alice"]) for _ in range(200)]
    none = _set_mode(org, "pilot", pilot_percent=0)
    assert not any(in_pilot_cohort(none, t) for t in tickets)
    half = _set_mode(org, "pilot", pilot_percent=50)
    chosen = [in_pilot_cohort(half, t) for t in tickets]
    assert 70 < sum(chosen) < 130
    assert chosen == [in_pilot_cohort(half, t) for t in tickets]  # the same tickets every time
    everyone = _set_mode(org, "pilot", pilot_percent=100)
    assert all(in_pilot_cohort(everyone, t) for t in tickets)


def test_mode_off_sends_every_agent_proposal_to_humans_but_not_staff_actions(
    org, django_capture_on_commit_callbacks
):
    _set_mode(org, "off")
    ticket = _triaging_ticket(org["bob"])
    _dispatch(ticket, "unlock_account", django_capture_on_commit_callbacks)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.escalation_reason) == (
        TicketStatus.ESCALATED,
        EscalationReason.AGENT_DISABLED,
    )
    assert Execution.objects.count() == 0
    with (
        patch_task("governance.tasks.run_execution"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        dispatch.proposal_dispatch(
            ticket_id=ticket.pk,
            actor=org["ivan"],
            actor_kind="user",
            proposal=Proposal(action="unlock_account", source="staff"),
        )
    assert Execution.objects.count() == 1


def test_mode_changes_are_audited_and_only_managers_may_change_them(org):
    from django.core.exceptions import PermissionDenied

    from governance.controls import ControlError, agent_mode_set

    with pytest.raises(PermissionDenied):
        agent_mode_set(by=org["ivan"], mode="off", reason="staff try")
    with pytest.raises(ControlError):
        agent_mode_set(by=org["judy"], mode="turbo", reason="no such mode")
    assert AgentControl.objects.filter(pk=1, mode="off").exists() is False
    _set_mode(org, "pilot", pilot_percent=10)
    event = AuditEvent.objects.get(code="agent.mode_changed")
    assert (event.actor_label, event.data["reason"]) == ("judy", "phase 3")
    assert event.data["after"] == {"mode": "pilot", "pilot_departments": [], "pilot_percent": 10}
