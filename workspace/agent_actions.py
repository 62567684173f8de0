"""The staff's part in the agent's work: running a catalog action through governance (the same
``decide()`` and executor as the agent) and correcting what the agent understood."""

from dataclasses import asdict

from django.contrib.auth.models import User
from django.db import transaction

from agents.models import AgentRun
from core.audit import audit_record
from governance.dispatch import proposal_dispatch
from governance.models import ActionCode
from governance.policy import RULES, decide
from governance.types import Decision, Outcome, Proposal
from servicedesk.models import (
    AgentCorrection,
    Queue,
    Ticket,
)
from servicedesk.services import TicketError
from servicedesk.states import WITH_STAFF_STATUSES
from workspace.agent_view import action_words, understanding
from workspace.services import display_name, requester_notify, ticket_locked, timeline_note

ACTION_PARAMS = {ActionCode.GRANT_GROUP_ACCESS: "group", ActionCode.INSTALL_SOFTWARE: "software"}


@transaction.atomic
def catalog_action_run(*, ticket_id: int, actor: User, action: str, params: dict[str, str]) -> Decision:
    """Carry out a catalog action for the requester through the same governance path as the agent:
    decided by the policy, audited, approvals still apply.

    When the policy says a human decides, the ticket stays with the staff member (it is already with
    a human), the refusal is audited and noted. ``proposal_dispatch`` would escalate it again, which
    the state table refuses for an escalated ticket, so that outcome is settled here first.
    """
    ticket = ticket_locked(ticket_id)
    if ticket.status not in WITH_STAFF_STATUSES:
        raise TicketError("Catalog actions run on tickets that are with the service desk.")
    proposal = Proposal(
        action=action,
        params=params,
        confidence=1.0,
        reasons=(f"run from the staff workspace by {actor.get_username()}",),
        source="staff",
        suggested_queue=ticket.queue.slug if ticket.queue else Queue.GENERAL,
    )
    words = action_words(action, params)
    decision = decide(proposal, ticket.requester)
    if decision.outcome != Outcome.ESCALATE:
        try:
            with transaction.atomic():
                decision = proposal_dispatch(ticket_id=ticket.pk, proposal=proposal, actor=actor)
        except TicketError:
            decision = decide(proposal, ticket.requester)  # the policy changed meanwhile
    if decision.outcome == Outcome.ESCALATE:
        _refusal_record(ticket, actor, proposal, decision, words)
        return decision
    ticket.refresh_from_db()
    if decision.outcome == Outcome.NEEDS_APPROVAL:
        timeline_note(ticket, actor, f"{display_name(actor)} ran “{words}”: it waits for an approval.")
        requester_notify(
            ticket,
            "ticket.status_changed",
            f"{ticket.reference} is now “{ticket.get_status_display()}”: {ticket.subject}",
        )
    else:
        timeline_note(ticket, actor, f"{display_name(actor)} ran “{words}”: the executor is carrying it out.")
    return decision


def _refusal_record(ticket: Ticket, actor: User, proposal: Proposal, decision: Decision, words: str) -> None:
    data = asdict(decision)
    data["outcome"] = str(decision.outcome)
    audit_record(
        code="policy.decided",
        actor=actor,
        actor_kind="user",
        ticket_id=ticket.pk,
        data={"proposal": asdict(proposal), "decision": data},
    )
    rules = " ".join(RULES.get(rule, rule) for rule in decision.rule_ids)
    text = f"{display_name(actor)} tried “{words}”; governance says a person decides: {decision.reason}."
    timeline_note(ticket, actor, f"{text} {rules}")


def latest_agent_run(ticket_id: int) -> AgentRun | None:
    return AgentRun.objects.filter(ticket_id=ticket_id).order_by("-started_at", "-id").first()


@transaction.atomic
def agent_correction_record(
    *,
    ticket_id: int,
    reviewer: User,
    wrong: bool,
    correct_action: str = "",
    correct_params: dict[str, str] | None = None,
    correct_queue_slug: str = "",
    note: str = "",
) -> AgentCorrection:
    """Record whether the agent was right; when wrong, what the right action or queue was.

    What the agent did is copied from its latest run, so the verdict exports as an evaluation row
    however the agent's records change later.
    """
    ticket = ticket_locked(ticket_id)
    seen = understanding(latest_agent_run(ticket.pk))
    if seen is None:
        raise TicketError("The agent did not handle this ticket, so there is nothing to judge.")
    params: dict[str, str] = {}
    queue = None
    if wrong:
        correct_action, params = _checked_action(correct_action, correct_params or {})
        if correct_queue_slug:
            try:
                queue = Queue.objects.team(correct_queue_slug)
            except ValueError as error:
                raise TicketError(f"There is no queue {correct_queue_slug!r}.") from error
        if not correct_action and queue is None:
            raise TicketError("Say what the right action was, or which queue the ticket belonged in.")
    else:
        correct_action = ""
    correction, _ = AgentCorrection.objects.update_or_create(
        ticket=ticket,
        defaults={
            "agent_run_id": seen.run_id,
            "agent_outcome": seen.outcome[:32],
            "agent_action": seen.action[:64],
            "agent_params": seen.params,
            "agent_queue": seen.queue[:50],
            "wrong": wrong,
            "correct_action": correct_action,
            "correct_params": params,
            "correct_queue": queue,
            "note": note.strip()[:1000],
            "reviewer": reviewer,
        },
    )
    return correction


def _checked_action(action: str, params: dict[str, str]) -> tuple[str, dict[str, str]]:
    if not action:
        return "", {}
    if action not in ActionCode.values:
        raise TicketError(f"{action!r} is not a catalog action.")
    key = ACTION_PARAMS.get(ActionCode(action))
    if key is None:
        return action, {}
    value = (params.get(key) or "").strip()
    if not value:
        raise TicketError(f"Say which {key} was right.")
    return action, {key: value}
