"""``understand(text, requester)``: the agent's whole reading of a ticket, without side effects.

The Celery task (through ``agents.services``) and ``manage.py agent_eval`` both call this, so the
evaluation measures the code that runs in production: router, planner with the configured
``AGENT_LLM``, and the typed proposal handed to governance.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from agents import llm, planner
from agents.catalog import Catalog, catalog_load
from agents.planner import PROPOSAL, QUESTION, Plan
from agents.redact import redact, redact_all
from agents.router import Router, RouterResult, get_router
from governance.types import Proposal


@dataclass(frozen=True)
class Understanding:
    route: RouterResult
    plan: Plan
    seconds: float  # router + planner, wall time for this ticket

    @property
    def kind(self) -> str:
        return self.plan.kind

    @property
    def proposal(self) -> Proposal | None:
        """What governance decides on; None when the agent asks or hands the ticket over."""
        if self.plan.kind != PROPOSAL or not self.plan.action:
            return None
        return Proposal(
            action=self.plan.action,
            params=dict(self.plan.params),
            confidence=self.plan.confidence,
            reasons=tuple(self.plan.reasons),
            source="agent",
            target=None,  # always the ticket's requester: ticket text never names the account to act on
            suggested_queue=self.route.queue,
            model=self.plan.model,
            prompt_version=self.plan.prompt_version,
        )

    def router_record(self) -> dict[str, Any]:
        """AgentRun.router: candidates with scores, out-of-scope score, queue, band, reasons."""
        data = self.route.to_dict()
        data["intent"] = self.route.action or "out_of_scope"
        data["confidence"] = planner.confidence_of(self.route) if self.route.action else 0.0
        data["summary"] = summary(self.route)
        return data

    def proposal_record(self) -> dict[str, Any]:
        """AgentRun.proposal: what the agent concluded (for every kind, not only proposals)."""
        return {
            "kind": self.plan.kind,
            "action": self.plan.action,
            "params": dict(self.plan.params),
            "confidence": self.plan.confidence,
            "reasons": list(self.plan.reasons),
            "suggested_queue": self.route.queue,
            "question": self.plan.question,
            "model_question": self.plan.model_question,
            "tokens_estimated": self.plan.tokens_estimated,
            "summary": summary(self.route),
        }


def summary(route: RouterResult) -> str:
    if route.band == "escalate" and not route.action:
        return f"out of scope ({route.queue})"
    params = ", ".join(route.params.values())
    return f"{route.band}: {route.action}" + (f" ({params})" if params else "")


def _username(requester: User | str) -> str:
    return requester if isinstance(requester, str) else requester.get_username()


def understand(text: str, requester: User | str, *, catalog: Catalog | None = None) -> Understanding:
    """Route and plan one ticket. Raises ``llm.ModelUnavailable`` when the provider is down."""
    return understand_batch([text], [requester], catalog=catalog)[0]


def understand_batch(
    texts: Sequence[str],
    requesters: Sequence[User | str],
    *,
    catalog: Catalog | None = None,
    router: Router | None = None,
) -> list[Understanding]:
    """Many tickets with one batched embedding call (the evaluation); the same decisions as one by one.

    Secrets typed into a ticket are masked here, before anything reads the text: the router, the
    prompt, the records and the logs only ever see ``[redacted password]`` and the like.
    """
    catalog = catalog or catalog_load()
    router = router or get_router(catalog)
    routes = router.route_batch([redact(text) for text in texts], [_username(r) for r in requesters])
    return [_plan(route, router.catalog) for route in routes]


def _plan(route: RouterResult, catalog: Catalog) -> Understanding:
    t0 = time.perf_counter()
    role = settings.AGENT_LLM_ROLE
    model = None
    name = ""
    if planner.consults_model(route, role):
        try:
            model = llm.chat_model()
            name = llm.model_label(model)
        except llm.ModelError as error:
            said = redact_all(str(error))  # configuration errors may quote a key
            failed = Plan(
                planner.ESCALATE,
                reasons=(*route.reasons, f"model unavailable: {said}"[:300]),
                model_failed=True,
                error=said[:500],
            )
            return Understanding(route, failed, route.seconds + time.perf_counter() - t0)
    try:
        result = planner.plan(
            route,
            catalog,
            model=model,
            model_name=name,
            role=role,
            max_calls=settings.AGENT_LLM_MAX_CALLS,
            max_tokens=settings.AGENT_LLM_MAX_TOKENS,
        )
    except llm.ModelUnavailable as error:
        error.route = route
        raise
    if model is None:
        result = replace(result, model="", prompt_version="")
    return Understanding(route, result, route.seconds + time.perf_counter() - t0)


__all__ = ["QUESTION", "Understanding", "understand", "understand_batch"]
