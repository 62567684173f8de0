"""The typed hand-over between the agent (which proposes) and governance (which disposes)."""

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class Proposal:
    """What someone wants done for a ticket's requester. ``action`` None means: nothing to act on.

    ``source`` says who proposed it: "agent", "staff" (from the workspace) or anything else, which
    the policy treats as untrusted (a forged proposal is decided exactly like any other).
    """

    action: str | None
    params: dict[str, str] = field(default_factory=dict)
    confidence: float = 0.0
    reasons: tuple[str, ...] = ()
    source: str = "agent"
    target: str | None = None  # the account to act on; None means the requester's own
    suggested_queue: str = "general"
    model: str = ""
    prompt_version: str = ""


class Outcome(StrEnum):
    EXECUTE = "execute"
    NEEDS_APPROVAL = "needs_approval"
    ESCALATE = "escalate"


@dataclass(frozen=True)
class ApproverSpec:
    role: str  # an ``ApproverRole`` value
    user_id: int | None = None  # a named approver (the requester's manager); None: anyone with the role


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    rule_ids: tuple[str, ...]
    reason: str
    queue: str = "general"
    approvers: tuple[ApproverSpec, ...] = ()
    digest: str = ""
    action: str | None = None
    params: dict[str, str] = field(default_factory=dict)  # normalised to catalog names


def action_digest(*, action: str, params: dict[str, Any], requester_id: int) -> str:
    """SHA-256 of the canonical action, parameters and requester: what an approval is bound to."""
    canonical = json.dumps(
        {"action": action, "params": params, "requester": requester_id},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
