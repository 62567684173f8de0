"""Approvals: opened by dispatch, decided by approvers (every step), expired by beat; an approved
action is claimed for the executor. Audited in the same transaction as each change."""

import logging
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.audit import audit_record
from core.locks import row_lock
from core.queue import enqueue_on_commit
from governance.executor import EXECUTION_TASK, execution_claim
from governance.models import (
    ApprovalRequest,
    ApprovalStatus,
    ApprovalStep,
)
from governance.selectors import action_queue, approvers_for, can_decide_step, describe_action, step_label
from governance.types import Decision, Outcome
from servicedesk.models import EscalationReason, Ticket, TicketStatus
from servicedesk.notifications import notification_send
from servicedesk.services import (
    ticket_await_approval,
    ticket_escalate,
)

logger = logging.getLogger(__name__)


def actor_fields(actor: User | None, actor_kind: str) -> dict[str, Any]:
    return {"actor": actor, "actor_kind": "user" if actor else actor_kind}


class ApprovalError(Exception):
    """An approval action this user or this request's state does not allow. Shown to the user."""


def approval_open(ticket: Ticket, decision: Decision, *, started_by: User | None) -> ApprovalRequest:
    existing = ApprovalRequest.objects.filter(
        ticket=ticket, digest=decision.digest, status=ApprovalStatus.PENDING
    ).first()
    if existing:
        return existing
    request = ApprovalRequest.objects.create(
        ticket=ticket,
        requester=ticket.requester,
        started_by=started_by,
        action=str(decision.action),
        params=decision.params,
        digest=decision.digest,
        rule_ids=list(decision.rule_ids),
        expires_at=timezone.now() + timedelta(hours=settings.APPROVAL_TTL_HOURS),
    )
    for spec in decision.approvers:
        ApprovalStep.objects.create(request=request, role=spec.role, approver_id=spec.user_id)
    audit_record(
        code="approval.requested",
        actor_kind="agent",
        ticket_id=ticket.pk,
        data={
            "approval": request.pk,
            "action": request.action,
            "params": request.params,
            "digest": request.digest,
            "approvers": [asdict(a) for a in decision.approvers],
        },
    )
    names = []
    for step in request.steps.all():
        for user in approvers_for(step):
            notification_send(
                recipient=user,
                ticket=ticket,
                code="approval.requested",
                text=f"Approval needed: {describe_action(request.action, request.params)} "
                f"for {ticket.requester.get_full_name() or ticket.requester.get_username()}",
                url=reverse("governance:approvals"),
            )
        names.append(step_label(step))
    ticket_await_approval(
        ticket_id=ticket.pk,
        message=(
            f"Your request ({describe_action(request.action, request.params)}) needs the approval of "
            f"{' and '.join(names)}. I have asked for it; you will see the outcome here."
        ),
    )
    return request


@transaction.atomic
def approval_decide(*, step_id: int, user: User, approve: bool, reason: str = "") -> ApprovalRequest:
    step = ApprovalStep.objects.select_for_update().select_related("request").get(pk=step_id)
    request = row_lock(ApprovalRequest, step.request_id)
    if request.status != ApprovalStatus.PENDING:
        raise ApprovalError(f"This approval is already {request.get_status_display().lower()}.")
    if not can_decide_step(user, step):
        raise ApprovalError("You cannot decide this approval.")
    if not approve and not reason.strip():
        raise ApprovalError("Please give a reason for declining.")
    if request.expires_at <= timezone.now():
        _approval_close(request, ApprovalStatus.EXPIRED, actor=None)
        raise ApprovalError("This approval has expired; the request went to the service desk.")
    now = timezone.now()
    step.decision, step.decided_by, step.reason, step.decided_at = (
        "approved" if approve else "rejected",
        user,
        reason.strip(),
        now,
    )
    step.save(update_fields=["decision", "decided_by", "reason", "decided_at"])
    if not approve:
        _approval_close(request, ApprovalStatus.REJECTED, actor=user, reason=reason)
        return request
    audit_record(
        code="approval.granted",
        actor_kind="user",
        actor=user,
        ticket_id=request.ticket_id,
        data={"approval": request.pk, "step": step.role, "digest": request.digest},
    )
    if request.steps.filter(decision="").exists():
        return request  # another approver still has to decide
    request.status, request.decided_at = ApprovalStatus.APPROVED, now
    request.save(update_fields=["status", "decided_at"])
    decision = Decision(
        outcome=Outcome.NEEDS_APPROVAL,
        rule_ids=tuple(request.rule_ids),
        reason="approved",
        digest=request.digest,
        action=request.action,
        params=request.params,
    )
    execution = execution_claim(request.ticket, decision)
    enqueue_on_commit(EXECUTION_TASK, execution.pk)
    return request


def _approval_close(request: ApprovalRequest, status: str, *, actor: User | None, reason: str = "") -> None:
    request.status, request.decided_at = status, timezone.now()
    request.save(update_fields=["status", "decided_at"])
    code = {
        ApprovalStatus.REJECTED: "approval.rejected",
        ApprovalStatus.EXPIRED: "approval.expired",
        ApprovalStatus.VOID: "approval.voided",
    }[ApprovalStatus(status)]
    audit_record(
        code=code,
        ticket_id=request.ticket_id,
        data={"approval": request.pk, "reason": reason},
        **actor_fields(actor, "system"),
    )
    ticket = request.ticket
    if status == ApprovalStatus.VOID or ticket.status != TicketStatus.AWAITING_APPROVAL:
        return
    reason_code = (
        EscalationReason.APPROVAL_REJECTED
        if status == ApprovalStatus.REJECTED
        else (EscalationReason.APPROVAL_EXPIRED)
    )
    detail = f"{describe_action(request.action, request.params)}: {reason}".rstrip(": ")
    ticket_escalate(
        ticket_id=ticket.pk,
        reason=reason_code,
        detail=detail,
        queue_slug=action_queue(request.action),
        actor_kind="system",
    )


def approvals_void_others(ticket: Ticket, digest: str, **who: Any) -> None:
    """A changed action voids the approvals that were asked for the old one."""
    for request in ApprovalRequest.objects.filter(ticket=ticket, status=ApprovalStatus.PENDING).exclude(
        digest=digest
    ):
        _approval_close(request, ApprovalStatus.VOID, actor=who.get("actor"), reason="the request changed")


def approvals_expire() -> int:
    """Expire overdue approvals one by one; one failure never stops the rest."""
    expired = 0
    overdue = ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING, expires_at__lte=timezone.now())
    for request_id in overdue.values_list("pk", flat=True):
        try:
            with transaction.atomic():
                request = row_lock(ApprovalRequest, request_id)
                if request.status == ApprovalStatus.PENDING:
                    _approval_close(request, ApprovalStatus.EXPIRED, actor=None, reason="no decision in time")
                    expired += 1
        except Exception:
            logger.exception("could not expire approval %s", request_id)
    return expired
