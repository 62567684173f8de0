"""The agent's entry point for one ticket. It decides nothing about the directory itself: a proposal
goes to ``governance.dispatch.proposal_dispatch``, which decides, executes or asks for approval."""

import logging
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.models import DECIDED_OUTCOMES, AgentRun
from agents.pipeline import Understanding, understand
from agents.planner import PROPOSAL, QUESTION
from agents.router import ACT, ASK
from governance.dispatch import proposal_dispatch
from servicedesk.models import AuthorKind, Comment, EscalationReason, Queue, Ticket, TicketStatus
from servicedesk.services import ticket_ask_requester, ticket_escalate, ticket_triage_start
from understanding.llm import ModelUnavailable

logger = logging.getLogger(__name__)

MAX_TRIAGE_ATTEMPTS = 3


def ticket_triage(*, ticket_id: int, last_attempt: bool = True) -> None:
    """Triage one ticket. ``last_attempt``: the task will not retry after this one, so a model
    provider that is still down sends the ticket to a person instead of raising."""
    if _already_decided(ticket_id):
        logger.info("ticket %s: this round was already decided; nothing to do", ticket_id)
        return
    ticket = ticket_triage_start(ticket_id=ticket_id, max_attempts=MAX_TRIAGE_ATTEMPTS)
    if ticket is None:
        logger.info("ticket %s: nothing to triage", ticket_id)
        return
    try:
        _triage(ticket.pk, last_attempt=last_attempt)
    except ModelUnavailable:
        raise  # the task retries with backoff; its last attempt passes last_attempt=True
    except Exception as error:
        # Never leave a ticket half-handled: a human gets it with the reason. If even that fails
        # (database gone), the exception reaches Celery and the sweep hands the ticket over again.
        logger.exception("ticket %s: triage failed", ticket_id)
        ticket_escalate(
            ticket_id=ticket.pk,
            reason=EscalationReason.AGENT_FAILED,
            detail=f"internal error ({type(error).__name__})",
            actor_kind=AuthorKind.SYSTEM,
        )


def _already_decided(ticket_id: int) -> bool:
    """A re-delivered task must not re-run a decision: one decided run per ticket and round (the
    round is the number of questions asked; a reply to a question starts the next one)."""
    ticket = Ticket.objects.filter(pk=ticket_id).only("status", "questions_asked").first()
    if ticket is None or ticket.status != TicketStatus.TRIAGING:
        return False
    return _round_decided(ticket)


def ticket_text(ticket: Ticket) -> str:
    """Subject, description and the requester's own replies; never the agent's or staff's words."""
    replies = Comment.objects.filter(ticket=ticket, author_kind=AuthorKind.REQUESTER).order_by(
        "created_at", "id"
    )
    parts = [ticket.subject, ticket.description, *(c.body for c in replies)]
    return "\n".join(p.strip() for p in parts if p and p.strip())


def _triage(ticket_id: int, *, last_attempt: bool = True) -> None:
    ticket = Ticket.objects.select_related("requester").get(pk=ticket_id)
    if not settings.AGENT_ENABLED:
        ticket_escalate(
            ticket_id=ticket.pk,
            reason=EscalationReason.AGENT_DISABLED,
            queue_slug=Queue.GENERAL,
            actor_kind=AuthorKind.SYSTEM,
        )
        logger.info("ticket %s: agent disabled, escalated to %s", ticket_id, Queue.GENERAL)
        return
    t0 = time.perf_counter()
    try:
        understanding = understand(ticket_text(ticket), ticket.requester)
    except ModelUnavailable as error:
        agent_run_failed(
            ticket_id=ticket.pk, error=error, seconds=time.perf_counter() - t0, final=last_attempt
        )
        if not last_attempt:
            raise
        return
    agent_decision_apply(ticket_id=ticket.pk, understanding=understanding, seconds=time.perf_counter() - t0)


@transaction.atomic
def agent_run_failed(*, ticket_id: int, error: ModelUnavailable, seconds: float, final: bool) -> AgentRun:
    """Record a model outage. On the final attempt the ticket goes to a person, with the reason,
    in the same transaction."""
    ticket = Ticket.objects.select_for_update(no_key=True).get(pk=ticket_id)
    route = error.route
    run = AgentRun(
        ticket=ticket,
        round=ticket.questions_asked,
        finished_at=timezone.now(),
        outcome="error",
        error=str(error)[:500],
        router=route.to_dict() if route is not None else {},
        latency_ms=round(seconds * 1000),
    )
    if final and ticket.status == TicketStatus.TRIAGING and not _round_decided(ticket):
        detail = f"the language model did not answer ({error})"[:500]
        _escalate(
            ticket, EscalationReason.AGENT_FAILED, detail, route.queue if route is not None else "general"
        )
        run.outcome, run.reason = "escalate", detail
    run.save()
    return run


@transaction.atomic
def agent_decision_apply(*, ticket_id: int, understanding: Understanding, seconds: float) -> AgentRun | None:
    """Record the run and carry out its decision in one transaction: both happen, or neither."""
    ticket = Ticket.objects.select_for_update(no_key=True).get(pk=ticket_id)
    if ticket.status != TicketStatus.TRIAGING:
        logger.info("ticket %s: moved to %s meanwhile; decision dropped", ticket_id, ticket.status)
        return None
    if _round_decided(ticket):
        logger.info("ticket %s: this round was decided meanwhile; decision dropped", ticket_id)
        return None
    plan, route = understanding.plan, understanding.route
    run = AgentRun(
        ticket=ticket,
        round=ticket.questions_asked,
        router=understanding.router_record(),
        proposal=understanding.proposal_record(),
        model=plan.model,
        prompt_version=plan.prompt_version,
        llm_calls=plan.llm_calls,
        tokens_in=plan.tokens_in,
        tokens_out=plan.tokens_out,
        tokens_estimated=plan.tokens_estimated,
        latency_ms=round(seconds * 1000),
        error=plan.error[:500],
    )
    proposal = understanding.proposal
    if plan.kind == PROPOSAL and proposal is not None:
        decision = proposal_dispatch(ticket_id=ticket.pk, proposal=proposal)
        run.outcome, run.rule_ids, run.reason = (
            str(decision.outcome),
            list(decision.rule_ids),
            decision.reason,
        )
    elif plan.kind == QUESTION and ticket.questions_asked < settings.AGENT_MAX_QUESTIONS:
        ticket_ask_requester(ticket_id=ticket.pk, question=plan.question)
        run.outcome, run.reason = "ask", "asked the requester: " + "; ".join(plan.reasons)
    elif plan.kind == QUESTION:
        detail = f"still unclear after {ticket.questions_asked} questions"
        _escalate(ticket, EscalationReason.NEEDS_HUMAN, detail, route.queue)
        run.outcome, run.reason = "escalate", detail
    else:
        reason = EscalationReason.AGENT_FAILED if plan.model_failed else EscalationReason.OUT_OF_SCOPE
        detail = _detail(understanding)
        language = understanding.prepared.reading.language if understanding.prepared else ""
        _escalate(ticket, reason, detail, route.queue, language)
        run.outcome, run.reason = "escalate", detail
    run.finished_at = timezone.now()
    run.save()
    return run


def _round_decided(ticket: Ticket) -> bool:
    """Whether this round already has a decided run. Checked before triage and again under the
    ticket's lock: a duplicate delivery (the sweep re-sent a ticket that a slow or killed worker had)
    may triage the same round at the same time; the first decision to commit stands."""
    return AgentRun.objects.filter(
        ticket=ticket, round=ticket.questions_asked, outcome__in=DECIDED_OUTCOMES
    ).exists()


def _escalate(ticket: Ticket, reason: str, detail: str, queue: str, language: str = "") -> None:
    ticket_escalate(
        ticket_id=ticket.pk,
        reason=reason,
        detail=detail,
        queue_slug=queue,
        actor_kind=AuthorKind.AGENT,
        language=language,
    )


def _detail(understanding: Understanding) -> str:
    """Shown on the ticket next to the reason: the router's own words, never the model's."""
    plan, route = understanding.plan, understanding.route
    if plan.model_failed:
        return f"the language model failed: {plan.error}"[:500]
    if route.band == ASK:
        return "the agent could not tell what is needed"
    if route.band == ACT:
        return "the language model did not confirm the request"
    skip = ("out of scope", "confident")
    reasons = [r for r in route.reasons if r not in skip and not r.startswith("no lexical")]
    return "; ".join(reasons)[:500]
