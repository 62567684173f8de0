"""The executor: runs a claimed execution once (idempotency key, session lease), checks the policy
again right before the side effect, reads the directory back, and resolves or hands over the ticket."""

import hashlib
import logging
from contextlib import AbstractContextManager
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import audit_record
from core.locks import row_lock, session_lease
from core.queue import enqueue
from governance.directory import get_connector
from governance.directory.base import (
    AccountState,
    DirectoryConnector,
    DirectoryError,
    TransientDirectoryError,
)
from governance.models import (
    ActionCode,
    ApprovalRequest,
    ApprovalStatus,
    Execution,
    ExecutionStatus,
    ResetToken,
)
from governance.policy import decide
from governance.reset_links import masked_email, reset_link_issue
from governance.selectors import action_queue, describe_action
from governance.types import Decision, Outcome, Proposal
from servicedesk.models import EscalationReason, Ticket, TicketStatus
from servicedesk.services import (
    comment_add_note,
    ticket_escalate,
    ticket_resolve_after_approval,
    ticket_resolve_by_agent,
)
from servicedesk.states import WITH_STAFF_STATUSES

logger = logging.getLogger(__name__)


# The executor's task (governance/tasks.py), sent by name after commit.
EXECUTION_TASK = "governance.tasks.run_execution"


def execution_claim(ticket: Ticket, decision: Decision) -> Execution:
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


def _execution_lease(execution_id: int) -> AbstractContextManager[bool]:
    """Whether this process may run the execution now. A task re-sent by the sweep can meet a slow
    first run of it; two runs at once could both pass the "not finished" check and act twice. A
    session lock: the attempt commits its audit events as it goes."""
    return session_lease(_EXECUTION_LOCK_SPACE, execution_id)


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
            enqueue(EXECUTION_TASK, execution_id)
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
        email = reset_link_issue(connector, username, execution.idempotency_key)
        return (
            f"I sent a one-time password-reset link to your registered email ({masked_email(email)}). "
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


def _execution_succeed(
    execution: Execution, before: AccountState, after: AccountState, message: str
) -> Execution:
    with transaction.atomic():
        execution = row_lock(Execution, execution.pk)
        if execution.status != ExecutionStatus.STARTED:
            return execution  # finished meanwhile by another run: its outcome stands
        ticket = ticket_lock(execution.ticket_id)
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
            comment_add_note(ticket=ticket, body=message, internal=False)
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
        execution = row_lock(Execution, execution.pk)
        if execution.status != ExecutionStatus.STARTED:
            return execution  # finished meanwhile by another run: its outcome stands
        ticket = ticket_lock(execution.ticket_id)
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
            comment_add_note(
                ticket=ticket, body=f"{describe_action(execution.action, execution.params)} failed: {error}"
            )
        elif ticket.status in (TicketStatus.TRIAGING, TicketStatus.AWAITING_APPROVAL):
            ticket_escalate(
                ticket_id=ticket.pk,
                reason=EscalationReason.EXECUTION_FAILED,
                detail=error,
                queue_slug=action_queue(execution.action),
                actor_kind="system",
            )
    return execution


def ticket_lock(ticket_id: int) -> Ticket:
    """Row locks before the audit chain's lock, always: a transaction that writes an audit event and
    then waits for the ticket row deadlocks with one that holds the row and waits to write one."""
    return row_lock(Ticket, ticket_id, no_key=True)
