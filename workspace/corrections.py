"""Staff verdicts on the agent as evaluation rows, in the agent_eval JSONL format (shared/eval).

One row a verdict: ``{"id", "text", "requester", "expected": {"action", "params"}, "source", "split"}``.
``expected`` is what the system should have done: when staff said the agent was right, what it did
(its action if it acted or asked for approval, else null); when wrong, the action staff named (null:
no action, a person handles it). ``expected.queue`` adds the team that should have it, when known;
readers that only compare action and parameters ignore it. Corrections come from live tickets, so
they default to the ``dev`` split: tune on them, report on the curated test rows.
"""

import json
from collections.abc import Iterator
from typing import Any

from core.redact import redact
from servicedesk.models import AgentCorrection


def evaluation_row(correction: AgentCorrection, *, split: str = "dev") -> dict[str, Any]:
    ticket = correction.ticket
    if correction.wrong:
        action = correction.correct_action or None
        params = dict(correction.correct_params) if action else {}
        queue = correction.correct_queue.slug if correction.correct_queue else ""
    else:
        acted = bool(correction.agent_action) and correction.agent_outcome in {"execute", "needs_approval"}
        action = correction.agent_action if acted else None
        params = dict(correction.agent_params) if acted else {}
        queue = "" if acted else correction.agent_queue
    expected: dict[str, Any] = {"action": action, "params": params}
    if queue:
        expected["queue"] = queue
    reviewer = correction.reviewer.get_username() if correction.reviewer else "staff"
    verdict = "wrong" if correction.wrong else "right"
    return {
        "id": f"staff-{ticket.reference}",
        # Masked like everything else derived from ticket text: an export file travels further.
        "text": redact(f"{ticket.subject}\n\n{ticket.description}"),
        "requester": ticket.requester.get_username(),
        "expected": expected,
        "source": f"staff verdict on {ticket.reference}: agent {verdict} ({reviewer})",
        "split": split,
    }


def evaluation_lines(*, wrong_only: bool = False, split: str = "dev") -> Iterator[str]:
    corrections = AgentCorrection.objects.select_related(
        "ticket__requester", "reviewer", "correct_queue"
    ).order_by("ticket_id")
    if wrong_only:
        corrections = corrections.filter(wrong=True)
    for correction in corrections.iterator(chunk_size=500):
        yield json.dumps(evaluation_row(correction, split=split), ensure_ascii=False) + "\n"
