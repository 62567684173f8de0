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

from agents import model_reading, planner
from agents.lexicon import prepare_text
from agents.planner import PROPOSAL, QUESTION, Plan
from agents.redact import redact, redact_all
from agents.router import CREDENTIAL_ACTIONS, ESCALATE, Router, RouterResult, get_router
from governance.types import Proposal
from understanding import llm
from understanding.catalog import Catalog, catalog_load
from understanding.reading import Prepared, prepare_batch
from understanding.types import Beneficiary, Polarity, SpeechAct


@dataclass(frozen=True)
class Understanding:
    route: RouterResult
    plan: Plan
    seconds: float  # reading + router + planner, wall time for this ticket
    prepared: Prepared | None = None

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
        if self.prepared is not None:
            data["reading"] = reading_record(self.prepared)
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


def reading_record(prepared: Prepared) -> dict[str, Any]:
    """What the agent understood, for staff and the audit trail: the speech act, for whom, the
    language, flags (injection, near-miss names, quoted requests) and each clause's act."""
    r = prepared.reading
    return {
        "speech_act": str(r.speech_act),
        "polarity": str(r.polarity),
        "beneficiary": str(r.beneficiary),
        "for": r.beneficiary_detail,
        "language": r.language,
        "flags": list(r.flags),
        "notes": list(r.notes),
        "clauses": [c.to_dict() for c in prepared.clauses][:12],
    }


def wants_action(prepared: Prepared) -> bool:
    """Only a present request to add something to the requester's own account goes to the router."""
    r = prepared.reading
    return (
        r.speech_act == SpeechAct.REQUEST
        and r.polarity == Polarity.ADD
        and r.beneficiary == Beneficiary.SELF
        and r.language == "en"
        and bool(prepared.routed.strip())
    )


def apply_reading(route: RouterResult, prepared: Prepared, wanted: bool) -> RouterResult:
    """The router proposes from the request clauses; the reading takes away what it must not do."""
    r = prepared.reading
    # The model (grey band) and staff read the requester's own words, not only the request clauses.
    route = replace(route, text=prepare_text(prepared.body)[0] if prepared.body else route.text)
    if "injection" in r.flags:
        route = replace(route, injection=True)  # removed before routing; staff still see it
    if r.language != "en":
        queue = prepared.queue_hint or "general"
        return replace(route, band=ESCALATE, action=None, params={}, reasons=r.notes, queue=queue)
    if "auto_reply" in r.flags:
        return replace(route, band=ESCALATE, action=None, params={}, reasons=("an automatic reply",))
    if not wanted:
        notes = r.notes or ("nothing asked",)
        return replace(route, band=ESCALATE, params={}, reasons=(*notes, *route.reasons))
    if "injection" in r.flags and route.action in CREDENTIAL_ACTIONS and route.band != ESCALATE:
        # A ticket that also tries to instruct the agent is a red flag: an account action in it is
        # checked by a person. Catalog software and groups still go through governance as asked.
        reason = f"{route.action} requested beside injection-like text: a person checks"
        return replace(route, band=ESCALATE, params={}, reasons=(reason, *route.reasons))
    cancelled = [x for x in (route.action, *route.params.values()) if x and x in prepared.vetoed]
    if route.band != ESCALATE and cancelled:
        reason = f"{cancelled[0]} is cancelled or removed elsewhere in the ticket"
        return replace(route, band=ESCALATE, params={}, reasons=(reason, *route.reasons))
    return route


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
    names = [_username(r) for r in requesters]
    t0 = time.perf_counter()
    prepared = prepare_batch(
        [redact(text) for text in texts],
        names,
        catalog=router.catalog,
        encode=router.encode,
        classifier=router.speech,
    )
    reading_seconds = (time.perf_counter() - t0) / max(len(texts), 1)
    wanted = [wants_action(p) for p in prepared]
    routed = [p.routed if w else p.own_text for p, w in zip(prepared, wanted, strict=True)]
    routes = router.route_batch(routed, names, understood=wanted)
    return [
        _plan(
            replace(apply_reading(route, p, w), seconds=route.seconds + reading_seconds),
            router.catalog,
            p,
            name,
        )
        for route, p, w, name in zip(routes, prepared, wanted, names, strict=True)
    ]


def _plan(
    route: RouterResult, catalog: Catalog, prepared: Prepared | None = None, requester: str = ""
) -> Understanding:
    t0 = time.perf_counter()
    role = settings.AGENT_LLM_ROLE
    model = None
    name = ""
    reads = role == "read" and prepared is not None
    if reads or planner.consults_model(route, role):
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
            return Understanding(route, failed, route.seconds + time.perf_counter() - t0, prepared)
    try:
        if reads and model is not None and prepared is not None:
            result = model_reading.plan_with_reader(
                route,
                prepared,
                catalog,
                requester=requester,
                model=model,
                model_name=name,
                max_calls=settings.AGENT_LLM_MAX_CALLS,
                max_tokens=settings.AGENT_LLM_MAX_TOKENS,
            )
        else:
            result = planner.plan(
                route,
                catalog,
                model=model,
                model_name=name,
                role=role if role != "read" else "grey",
                max_calls=settings.AGENT_LLM_MAX_CALLS,
                max_tokens=settings.AGENT_LLM_MAX_TOKENS,
            )
    except llm.ModelUnavailable as error:
        error.route = route
        raise
    if model is None:
        result = replace(result, model="", prompt_version="")
    return Understanding(route, result, route.seconds + time.perf_counter() - t0, prepared)


__all__ = ["QUESTION", "Understanding", "understand", "understand_batch"]
