"""What happens after ``decide()``: execute, ask for approval, or hand to a human; and the executor.

Every function here writes its audit events in the same transaction as the change they record.
"""

import hashlib
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from governance.audit import audit_record
from governance.directory import get_connector
from governance.directory.base import (
    AccountState,
    DirectoryConnector,
    DirectoryError,
    TransientDirectoryError,
)
from governance.models import (
    ActionCode,
    AgentMode,
    ApprovalRequest,
    ApprovalStatus,
    ApprovalStep,
    ApproverRole,
    CatalogAction,
    Execution,
    ExecutionStatus,
    ResetToken,
)
from governance.modes import agent_may_act
from governance.policy import decide
from governance.types import Decision, Outcome, Proposal
from servicedesk.models import AuthorKind, Comment, EscalationReason, Role, Ticket, TicketStatus, Visibility
from servicedesk.roles import has_role
from servicedesk.services import (
    notification_send,
    ticket_await_approval,
    ticket_escalate,
    ticket_resolve_after_approval,
    ticket_resolve_by_agent,
)
from servicedesk.states import WITH_STAFF_STATUSES

logger = logging.getLogger(__name__)


class ApprovalError(Exception):
    """An approval action this user or this request's state does not allow. Shown to the user."""


def _actor(actor: User | None, actor_kind: str) -> dict[str, Any]:
    return {"actor": actor, "actor_kind": "user" if actor else actor_kind}


# ---------------------------------------------------------------------------------------------
# Dispatch: turn a decision into its effect on the ticket.


@transaction.atomic
def proposal_dispatch(
    *, ticket_id: int, proposal: Proposal, actor: User | None = None, actor_kind: str = "agent"
) -> Decision:
    """Decide the proposal for the ticket's requester and act on the decision.

    The ticket must be in triage (the agent) or with a human (staff acting from the workspace).
    """
    # The ticket row only, and FOR NO KEY UPDATE: a lock on the joined user row, or one that blocks
    # foreign-key checks, would stop the requester's next ticket (or a comment) at its commit while
    # it holds the audit chain's lock, which this transaction waits for: a deadlock.
    ticket = (
        Ticket.objects.select_for_update(no_key=True, of=("self",))
        .select_related("requester")
        .get(pk=ticket_id)
    )
    decision = decide(proposal, ticket.requester)
    who = _actor(actor, actor_kind)
    may_act, mode = agent_may_act(ticket) if proposal.source == "agent" else (True, "")
    if proposal.source == "agent":
        audit_record(code="agent.proposed", ticket_id=ticket.pk, data={"proposal": asdict(proposal)}, **who)
    audit_record(
        code="policy.decided",
        ticket_id=ticket.pk,
        data={
            "proposal": asdict(proposal),
            "decision": _decision_data(decision),
            "mode": mode,
            "shadow": not may_act,
        },
        **who,
    )
    if not may_act:
        _shadow(ticket, decision, mode)
        return decision
    _void_other_approvals(ticket, decision.digest, **who)
    if decision.outcome == Outcome.EXECUTE:
        execution = _execution_claim(ticket, decision)
        transaction.on_commit(lambda: _enqueue_execution(execution.pk), robust=True)
    elif decision.outcome == Outcome.NEEDS_APPROVAL:
        _approval_open(ticket, decision, started_by=actor)
    else:
        reason = (
            EscalationReason.OUT_OF_SCOPE if decision.rule_ids == ("no_action",) else EscalationReason.POLICY
        )
        if decision.rule_ids == ("agent_paused",):
            reason = EscalationReason.AGENT_PAUSED
        if ticket.status in WITH_STAFF_STATUSES:
            return decision  # already with a person: the refusal is audited above, the ticket stays put
        ticket_escalate(
            ticket_id=ticket.pk,
            reason=reason,
            detail=decision.reason,
            queue_slug=decision.queue,
            actor_kind="agent",
        )
    return decision


def _shadow(ticket: Ticket, decision: Decision, mode: str) -> None:
    """Record for the staff what the agent would have done, and give them the ticket."""
    if decision.outcome != Outcome.ESCALATE:
        would = describe_action(str(decision.action), decision.params)
        Comment.objects.create(
            ticket=ticket,
            author_kind=AuthorKind.AGENT,
            visibility=Visibility.INTERNAL,
            body=f"Agent ({mode} mode, nothing done) would {decision.outcome.replace('_', ' ')}: {would}. "
            f"{decision.reason}.",
        )
    reason = EscalationReason.AGENT_DISABLED if mode == AgentMode.OFF else EscalationReason.POLICY
    detail = {
        "off": "the agent is switched off",
        "shadow": "the agent is in shadow mode",
        "pilot": "the request is outside the agent's pilot",
    }.get(mode, "")
    ticket_escalate(
        ticket_id=ticket.pk, reason=reason, detail=detail, queue_slug=decision.queue, actor_kind="agent"
    )


def _decision_data(decision: Decision) -> dict[str, Any]:
    data = asdict(decision)
    data["outcome"] = str(decision.outcome)
    return data


def _enqueue_execution(execution_id: int) -> None:
    from governance.tasks import run_execution

    run_execution.apply_async(args=(execution_id,), queue=settings.CELERY_TASK_DEFAULT_QUEUE)


def _execution_claim(ticket: Ticket, decision: Decision) -> Execution:
    """Claim the idempotency key (ticket + action digest) before any side effect; a second claim
    for the same ticket and action returns the first one, so nothing is ever done twice."""
    key = hashlib.sha256(f"{ticket.pk}:{decision.digest}".encode()).hexdigest()
    try:
        with transaction.atomic():
            return Execution.objects.create(
                idempotency_key=key,
                ticket=ticket,
                action=str(decision.action),
                params=decision.params,
                digest=decision.digest,
                connector=get_connector().name,
            )
    except IntegrityError:
        return Execution.objects.get(idempotency_key=key)


# ---------------------------------------------------------------------------------------------
# Approvals


def _approval_open(ticket: Ticket, decision: Decision, *, started_by: User | None) -> ApprovalRequest:
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


# The Django group whose members may decide a step that names a role rather than a person.
APPROVER_GROUPS = {
    ApproverRole.SERVICE_DESK: Role.SERVICE_DESK,
    ApproverRole.SERVICE_DESK_LEAD: Role.SERVICE_DESK_LEAD,
    ApproverRole.MANAGER: Role.MANAGER,
}


def approvers_for(step: ApprovalStep) -> list[User]:
    """Who may decide this step: the named approver, or everyone holding the role; never the
    requester, and never the staff member who ran the action (four eyes)."""
    excluded = {step.request.requester_id, step.request.started_by_id}
    if step.approver_id:
        return [step.approver] if step.approver_id not in excluded and step.approver else []
    group = APPROVER_GROUPS[ApproverRole(step.role)]
    return list(
        User.objects.filter(groups__name=group.value, is_active=True).exclude(pk__in=excluded - {None})
    )


def step_label(step: ApprovalStep) -> str:
    if step.approver_id and step.approver:
        return step.approver.get_full_name() or step.approver.get_username()
    return ApproverRole(step.role).label.lower().replace("the requester's", "your")


def can_decide_step(user: User, step: ApprovalStep) -> bool:
    if not user.is_active or step.decision:
        return False
    if user.pk in (step.request.requester_id, step.request.started_by_id):
        return False
    if step.request.steps.filter(decided_by=user).exists():  # two approvers means two people
        return False
    if step.approver_id:
        return step.approver_id == user.pk
    role = APPROVER_GROUPS[ApproverRole(step.role)]
    return has_role(user, role)


def pending_steps_for(user: User) -> list[ApprovalStep]:
    steps = (
        ApprovalStep.objects.filter(request__status=ApprovalStatus.PENDING, decision="")
        .filter(Q(approver=user) | Q(approver__isnull=True))
        .exclude(request__requester=user)
        .exclude(request__started_by=user)
        .select_related("request__ticket", "request__requester", "approver")
        .order_by("-request__created_at")
    )
    return [step for step in steps if can_decide_step(user, step)]


@transaction.atomic
def approval_decide(*, step_id: int, user: User, approve: bool, reason: str = "") -> ApprovalRequest:
    step = ApprovalStep.objects.select_for_update().select_related("request").get(pk=step_id)
    request = ApprovalRequest.objects.select_for_update().get(pk=step.request_id)
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
    execution = _execution_claim(request.ticket, decision)
    transaction.on_commit(lambda: _enqueue_execution(execution.pk), robust=True)
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
        **_actor(actor, "system"),
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
        queue_slug=_action_queue(request.action),
        actor_kind="system",
    )


def _void_other_approvals(ticket: Ticket, digest: str, **who: Any) -> None:
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
                request = ApprovalRequest.objects.select_for_update().get(pk=request_id)
                if request.status == ApprovalStatus.PENDING:
                    _approval_close(request, ApprovalStatus.EXPIRED, actor=None, reason="no decision in time")
                    expired += 1
        except Exception:
            logger.exception("could not expire approval %s", request_id)
    return expired


# ---------------------------------------------------------------------------------------------
# Executor


class ExecutionRefused(Exception):
    """The last check before the side effect said no (kill switch, catalog change, approval gone)."""


def execution_run(*, execution_id: int, last_attempt: bool = True) -> Execution:
    """Carry out one claimed execution. Safe to run twice: a finished execution is left alone, and
    a run that finds another run of it under way leaves it to that one.

    ``TransientDirectoryError`` propagates for the task to retry with backoff unless this is the
    last attempt, in which case the ticket goes to a human.
    """
    with _execution_lease(execution_id) as leased:
        if not leased:
            logger.info("execution %s: another run is under way; leaving it to that one", execution_id)
            return Execution.objects.get(pk=execution_id)
        return _execution_attempt(execution_id, last_attempt=last_attempt)


# Advisory-lock key space of executions (two-int keys never collide with the audit chain's one-int key).
_EXECUTION_LOCK_SPACE = 0x5EC_E0E


@contextmanager
def _execution_lease(execution_id: int) -> Iterator[bool]:
    """Whether this process may run the execution now. A task re-sent by the sweep can meet a slow
    first run of it; two runs at once could both pass the "not finished" check and act twice. A
    PostgreSQL session lock, not a row lock: the attempt commits its audit events as it goes. It is
    released at the end, or by PostgreSQL when a killed worker's connection drops. SQLite (the
    embedded setup, one worker) needs none."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = [_EXECUTION_LOCK_SPACE, execution_id % 2**31]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        leased = bool(cursor.fetchone()[0])
    try:
        yield leased
    finally:
        if leased:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def _execution_attempt(execution_id: int, *, last_attempt: bool) -> Execution:
    with transaction.atomic():
        execution = (
            Execution.objects.select_for_update(of=("self",))  # not the ticket and user rows
            .select_related("ticket__requester")
            .get(pk=execution_id)
        )
        if execution.status != ExecutionStatus.STARTED:
            return execution
        execution.attempts += 1
        execution.save(update_fields=["attempts"])
    try:
        _recheck(execution)
    except ExecutionRefused as refusal:
        return _execution_fail(execution, str(refusal), code="execution.refused")
    connector = get_connector()
    username = execution.ticket.requester.get_username()
    try:
        before = connector.read_state(username)
        with transaction.atomic():
            audit_record(
                code="execution.started",
                actor_kind="agent",
                ticket_id=execution.ticket_id,
                data={
                    "execution": execution.pk,
                    "action": execution.action,
                    "params": execution.params,
                    "connector": connector.name,
                    "before": before.as_dict(),
                },
            )
        message = _perform(connector, execution, username)
        after = connector.read_state(username)
        _verify(execution, after)
    except DirectoryError as error:
        if not last_attempt and isinstance(error, TransientDirectoryError):
            raise
        return _execution_fail(execution, f"{type(error).__name__}: {error}", code="execution.failed")
    return _execution_succeed(execution, before, after, message)


def executions_resend(*, started_before: datetime) -> int:
    """Send unfinished executions claimed before ``started_before`` to the worker again: their task
    was lost (a worker killed between the claim and the side effect, the broker down after the
    commit), and their ticket would wait in triage or for approval forever. One by one: one failure
    never stops the rest; a run that is in fact still going keeps it (``_execution_lease``)."""
    sent = 0
    stuck = Execution.objects.filter(status=ExecutionStatus.STARTED, started_at__lt=started_before)
    for execution_id in stuck.values_list("pk", flat=True):
        try:
            _enqueue_execution(execution_id)
            sent += 1
        except Exception:
            logger.exception("could not re-send execution %s", execution_id)
    return sent


def _recheck(execution: Execution) -> None:
    """Right before the side effect: the policy must still allow exactly this action."""
    ticket = execution.ticket
    proposal = Proposal(action=execution.action, params=dict(execution.params), source="executor")
    decision = decide(proposal, ticket.requester, recheck_of=execution)
    if decision.digest != execution.digest:
        raise ExecutionRefused(f"policy now says {decision.outcome}: {decision.reason}")
    if decision.outcome == Outcome.EXECUTE:
        return
    if (
        decision.outcome == Outcome.NEEDS_APPROVAL
        and ApprovalRequest.objects.filter(
            ticket=ticket, digest=execution.digest, status=ApprovalStatus.APPROVED
        ).exists()
    ):
        return
    raise ExecutionRefused(f"policy now says {decision.outcome}: {decision.reason}")


def _perform(connector: DirectoryConnector, execution: Execution, username: str) -> str:
    params = execution.params
    if execution.action == ActionCode.RESET_PASSWORD:
        email = _issue_reset_link(connector, username, execution.idempotency_key)
        return (
            f"I sent a one-time password-reset link to your registered email ({_mask(email)}). "
            f"It works once and expires in {settings.RESET_LINK_TTL_MINUTES} minutes."
        )
    if execution.action == ActionCode.UNLOCK_ACCOUNT:
        connector.unlock_account(username)
        return "Your account is unlocked. You can sign in again now."
    if execution.action == ActionCode.RESET_MFA:
        connector.reset_mfa(username)
        return (
            "Your MFA enrolment was reset. At your next sign-in you will be asked to enrol your new device."
        )
    if execution.action == ActionCode.GRANT_GROUP_ACCESS:
        connector.add_to_group(username, params["group"])
        return f"You are now a member of {params['group']}. It can take a few minutes to apply everywhere."
    if execution.action == ActionCode.INSTALL_SOFTWARE:
        connector.assign_software(username, params["software"])
        return f"{params['software']} is assigned to your device and will install at the next sync."
    raise ExecutionRefused(f"no executor for {execution.action}")


def _verify(execution: Execution, after: AccountState) -> None:
    """Read the state back: the change must be visible before the ticket is called resolved."""
    ok = {
        ActionCode.RESET_PASSWORD: ResetToken.objects.filter(
            execution_key=execution.idempotency_key
        ).exists(),
        ActionCode.UNLOCK_ACCOUNT: not after.locked,
        ActionCode.RESET_MFA: after.mfa_reset_pending,
        ActionCode.GRANT_GROUP_ACCESS: execution.params.get("group") in after.groups,
        ActionCode.INSTALL_SOFTWARE: execution.params.get("software") in after.software,
    }.get(ActionCode(execution.action), False)
    if not ok:
        raise DirectoryError("the change is not visible in the directory after it was made")


def _issue_reset_link(connector: DirectoryConnector, username: str, execution_key: str) -> str:
    """One link per execution: a re-run finds the link it already sent instead of sending another."""
    email = connector.registered_email(username)
    if ResetToken.objects.filter(execution_key=execution_key).exists():
        return email
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        ResetToken.objects.create(
            username=username,
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            channel=email,
            execution_key=execution_key,
            expires_at=timezone.now() + timedelta(minutes=settings.RESET_LINK_TTL_MINUTES),
        )
        link = f"{settings.SITE_URL}{reverse('governance:password_reset', kwargs={'token': token})}"
        transaction.on_commit(
            lambda: send_mail(
                subject="Your password-reset link",
                message=f"Use this one-time link to choose a new password (it expires in "
                f"{settings.RESET_LINK_TTL_MINUTES} minutes):\n\n{link}\n\nIf you did not ask for it, "
                "tell the service desk.",
                from_email=None,
                recipient_list=[email],
            )
        )
    return email


def _mask(email: str) -> str:
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}" if domain else "***"


def _execution_succeed(
    execution: Execution, before: AccountState, after: AccountState, message: str
) -> Execution:
    with transaction.atomic():
        execution = Execution.objects.select_for_update().get(pk=execution.pk)
        if execution.status != ExecutionStatus.STARTED:
            return execution  # finished meanwhile by another run: its outcome stands
        ticket = _lock_ticket(execution.ticket_id)
        execution.status, execution.finished_at = ExecutionStatus.SUCCEEDED, timezone.now()
        execution.before, execution.after = before.as_dict(), after.as_dict()
        execution.save(update_fields=["status", "finished_at", "before", "after"])
        audit_record(
            code="execution.succeeded",
            actor_kind="agent",
            ticket_id=execution.ticket_id,
            data={
                "execution": execution.pk,
                "action": execution.action,
                "params": execution.params,
                "before": before.as_dict(),
                "after": after.as_dict(),
            },
        )
        # Only an approved action can have a staff starter: the agent's own executions skip the query.
        started_by = _approval_starter(execution) if ticket.status == TicketStatus.AWAITING_APPROVAL else None
        if started_by is not None:
            ticket_resolve_after_approval(ticket_id=ticket.pk, message=message, started_by=started_by)
        elif ticket.status in (TicketStatus.TRIAGING, TicketStatus.AWAITING_APPROVAL):
            ticket_resolve_by_agent(ticket_id=ticket.pk, message=message)
        elif ticket.status in WITH_STAFF_STATUSES:  # run from the workspace: staff resolve it themselves
            Comment.objects.create(
                ticket=ticket, author_kind=AuthorKind.SYSTEM, visibility=Visibility.PUBLIC, body=message
            )
    return execution


def _approval_starter(execution: Execution) -> User | None:
    """The staff member who ran the approved action from the workspace; None when the agent did."""
    request = (
        ApprovalRequest.objects.filter(
            ticket_id=execution.ticket_id, digest=execution.digest, status=ApprovalStatus.APPROVED
        )
        .select_related("started_by")
        .order_by("-id")
        .first()
    )
    return request.started_by if request is not None else None


def _execution_fail(execution: Execution, error: str, *, code: str) -> Execution:
    with transaction.atomic():
        execution = Execution.objects.select_for_update().get(pk=execution.pk)
        if execution.status != ExecutionStatus.STARTED:
            return execution  # finished meanwhile by another run: its outcome stands
        ticket = _lock_ticket(execution.ticket_id)
        execution.status, execution.finished_at, execution.error = (
            ExecutionStatus.FAILED,
            timezone.now(),
            error[:500],
        )
        execution.save(update_fields=["status", "finished_at", "error"])
        audit_record(
            code=code,
            actor_kind="agent",
            ticket_id=execution.ticket_id,
            data={"execution": execution.pk, "action": execution.action, "error": error[:500]},
        )
        if ticket.status in WITH_STAFF_STATUSES:
            Comment.objects.create(
                ticket=ticket,
                author_kind=AuthorKind.SYSTEM,
                visibility=Visibility.INTERNAL,
                body=f"{describe_action(execution.action, execution.params)} failed: {error}",
            )
        elif ticket.status in (TicketStatus.TRIAGING, TicketStatus.AWAITING_APPROVAL):
            ticket_escalate(
                ticket_id=ticket.pk,
                reason=EscalationReason.EXECUTION_FAILED,
                detail=error,
                queue_slug=_action_queue(execution.action),
                actor_kind="system",
            )
    return execution


def _lock_ticket(ticket_id: int) -> Ticket:
    """Row locks before the audit chain's lock, always: a transaction that writes an audit event and
    then waits for the ticket row deadlocks with one that holds the row and waits to write one."""
    return Ticket.objects.select_for_update(no_key=True).get(pk=ticket_id)


def _action_queue(code: str) -> str:
    action = CatalogAction.objects.select_related("queue").filter(code=code).first()
    return action.queue.slug if action else "general"


def describe_action(action: str, params: dict[str, Any]) -> str:
    """The action in words, for replies and the approvals page."""
    if action == ActionCode.GRANT_GROUP_ACCESS:
        return f"Grant access to the group {params.get('group')}"
    if action == ActionCode.INSTALL_SOFTWARE:
        return f"Install {params.get('software')}"
    return ActionCode(action).label if action in ActionCode.values else action


class ResetLinkError(Exception):
    """The link is unknown, used or expired. One message for all three: a probe learns nothing."""


def reset_token_lookup(token: str) -> ResetToken | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return ResetToken.objects.filter(
        token_hash=digest, used_at__isnull=True, expires_at__gt=timezone.now()
    ).first()


def password_reset_complete(*, token: str, new_password: str) -> str:
    """Set the account's new password in the directory; the link then stops working."""
    with transaction.atomic():
        reset = reset_token_lookup(token)
        if reset is None:
            raise ResetLinkError("This link is not valid any more. Ask the service desk for a new one.")
        claimed = ResetToken.objects.filter(pk=reset.pk, used_at__isnull=True).update(used_at=timezone.now())
        if claimed != 1:
            raise ResetLinkError("This link is not valid any more. Ask the service desk for a new one.")
        # The directory call sits inside the transaction: if it fails, the link stays usable.
        get_connector().set_password(reset.username, new_password)
        audit_record(
            code="password.reset_completed",
            actor_kind="user",
            actor_label=reset.username,
            data={"username": reset.username, "channel": _mask(reset.channel)},
        )
    return reset.username
