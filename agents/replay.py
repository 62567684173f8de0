"""Replay: ticket texts through the agent's production path (router + planner), then governance's
``decide()``. Reads only: nothing is executed, asked or written. Shared by ``manage.py agent_eval``
and the managers' backtest (insights/backtest.py)."""

import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import User

from agents.pipeline import Understanding, understand_batch
from agents.router import Router
from governance.policy import DATABASE, PolicySource, decide
from governance.types import Decision
from understanding.catalog import Catalog


@dataclass(frozen=True)
class Replayed:
    understanding: Understanding
    decision: Decision | None  # None: the agent asked or escalated before governance, or no requester
    seconds: float  # router + planner + decide

    @property
    def outcome(self) -> str:
        """execute | needs_approval | escalate (governance), else the plan's kind (question, escalate)."""
        return str(self.decision.outcome) if self.decision is not None else self.understanding.kind


def replay_batch(
    texts: Sequence[str],
    requesters: Sequence[User | str],
    *,
    catalog: Catalog | None = None,
    router: Router | None = None,
    source: PolicySource = DATABASE,
) -> list[Replayed]:
    """Understand many tickets with one batched router call, and decide each proposal. Reads only.
    A requester given by username only (no such user) gets no decision."""
    understood = understand_batch(texts, requesters, catalog=catalog, router=router)
    out = []
    for u, requester in zip(understood, requesters, strict=True):
        t0 = time.perf_counter()
        decision = None
        if u.proposal is not None and isinstance(requester, User):
            decision = decide(u.proposal, requester, source=source)
        out.append(Replayed(u, decision, u.seconds + time.perf_counter() - t0))
    return out
