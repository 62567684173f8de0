"""What the agent understood about a ticket, read defensively from its latest ``AgentRun``.

The agents app owns ``AgentRun`` and is still growing it, so every field is read with a default and
every JSON value is checked before use: a missing or reshaped field shows as "not recorded", never
as a server error on the staff page.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from governance.models import ActionCode
from governance.policy import RULES
from servicedesk.models import TEAM_QUEUES

QUEUE_NAMES = {slug: name for slug, name, _ in TEAM_QUEUES}
OUTCOME_WORDS = {
    "execute": "Carried out the action",
    "needs_approval": "Asked for an approval",
    "escalate": "Passed it to a person",
    "ask": "Asked the requester a question",
    "error": "Failed",
}


@dataclass(frozen=True)
class Understanding:
    run_id: int | None
    asked: str = ""
    action: str = ""
    params: dict[str, str] = field(default_factory=dict)
    confidence: float | None = None
    reasons: tuple[str, ...] = ()
    outcome: str = ""
    rules: tuple[tuple[str, str], ...] = ()  # (rule id, the rule in words)
    reason: str = ""
    queue: str = ""
    candidates: tuple[tuple[str, float], ...] = ()  # the router's (action or queue, score), best first
    out_of_scope: float | None = None  # the router's out-of-scope score
    suggested_reply: str = ""
    model: str = ""
    started_at: datetime | None = None
    error: str = ""

    @property
    def action_label(self) -> str:
        return action_words(self.action, self.params) if self.action else "No catalog action"

    @property
    def outcome_label(self) -> str:
        return OUTCOME_WORDS.get(self.outcome, self.outcome or "Not recorded")

    @property
    def queue_name(self) -> str:
        return QUEUE_NAMES.get(self.queue, self.queue)

    @property
    def confidence_percent(self) -> int | None:
        return None if self.confidence is None else round(self.confidence * 100)

    @property
    def out_of_scope_percent(self) -> int:
        return round((self.out_of_scope or 0) * 100)


def action_words(action: str, params: dict[str, Any]) -> str:
    """``Install software: Zoom`` — the action for staff, naming its parameters."""
    label = ActionCode(action).label if action in ActionCode.values else action
    values = ", ".join(str(value) for value in params.values())
    return f"{label}: {values}" if values else label


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(*values: Any) -> str:
    return next((value.strip() for value in values if isinstance(value, str) and value.strip()), "")


def _confidence(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return min(max(float(value), 0.0), 1.0)


def _candidates(router: dict[str, Any]) -> tuple[tuple[str, float], ...]:
    rows = []
    for item in router.get("candidates") or []:
        if isinstance(item, dict):
            name, score = _text(item.get("action"), item.get("queue"), item.get("name")), item.get("score")
        elif isinstance(item, list | tuple) and len(item) == 2:
            name, score = str(item[0]), item[1]
        else:
            continue
        if name and isinstance(score, int | float):
            rows.append((name, float(score)))
    return tuple(sorted(rows, key=lambda row: -row[1])[:3])


def understanding(run: Any) -> Understanding | None:
    """``run``: an ``AgentRun`` or None."""
    if run is None:
        return None
    proposal, router = _mapping(getattr(run, "proposal", None)), _mapping(getattr(run, "router", None))
    params = {str(k): str(v) for k, v in _mapping(proposal.get("params")).items()}
    action = _text(proposal.get("action"))
    rule_ids = [str(rule) for rule in (getattr(run, "rule_ids", None) or []) if isinstance(rule, str)]
    reasons = proposal.get("reasons") or ()
    return Understanding(
        run_id=getattr(run, "pk", None),
        asked=_text(
            getattr(run, "understanding", None),
            proposal.get("understanding"),
            proposal.get("summary"),
            router.get("summary"),
        ),
        action=action,
        params=params,
        confidence=_confidence(proposal.get("confidence")),
        reasons=tuple(str(reason) for reason in reasons if isinstance(reason, str))
        if isinstance(reasons, list | tuple)
        else (),
        outcome=_text(getattr(run, "outcome", None)),
        rules=tuple((rule, RULES.get(rule, rule)) for rule in rule_ids),
        reason=_text(getattr(run, "reason", None)),
        queue=_text(router.get("queue"), proposal.get("suggested_queue")),
        candidates=_candidates(router),
        out_of_scope=_confidence(router.get("out_of_scope")),
        suggested_reply=_text(
            getattr(run, "suggested_reply", None), proposal.get("suggested_reply"), proposal.get("reply")
        ),
        model=_text(getattr(run, "model", None)),
        started_at=getattr(run, "started_at", None),
        error=_text(getattr(run, "error", None)),
    )
