"""What happens after ``decide()``: execute (the executor, by task name after commit), ask for approval,
or hand to a human. Every function writes its audit events in the same transaction as the change."""

from dataclasses import asdict
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from core.audit import audit_record
from core.queue import enqueue_on_commit
from governance.approvals import actor_fields, approval_open, approvals_void_others
from governance.executor import EXECUTION_TASK, execution_claim
from governance.models import (
    AgentMode,
)
from governance.modes import agent_may_act
from governance.policy import decide
from governance.selectors import describe_action
from governance.types import Decision, Outcome, Proposal
from servicedesk.models import AuthorKind, EscalationReason, Ticket
from servicedesk.services import (
    comment_add_note,
    ticket_escalate,
)
from servicedesk.states import WITH_STAFF_STATUSES


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
    who = actor_fields(actor, actor_kind)
    may_act, mode = agent_may_act(ticket) if proposal.source == "agent" else (True, "")
    if proposal.source == "agent":
        audit_record(code="agent.proposed", ticket_id=ticket.pk, data={"proposal": asdict(proposal)}, **who)
    audit_record(
        code="policy.decided",
        ticket_id=ticket.pk,
        data={
            "proposal": asdict(proposal),
            "decision": decision_data(decision),
            "mode": mode,
            "shadow": not may_act,
        },
        **who,
    )
    if not may_act:
        _shadow(ticket, decision, mode)
        return decision
    approvals_void_others(ticket, decision.digest, **who)
    if decision.outcome == Outcome.EXECUTE:
        execution = execution_claim(ticket, decision)
        enqueue_on_commit(EXECUTION_TASK, execution.pk)
    elif decision.outcome == Outcome.NEEDS_APPROVAL:
        approval_open(ticket, decision, started_by=actor)
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
        comment_add_note(
            ticket=ticket,
            author_kind=AuthorKind.AGENT,
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


def decision_data(decision: Decision) -> dict[str, Any]:
    data = asdict(decision)
    data["outcome"] = str(decision.outcome)
    return data
