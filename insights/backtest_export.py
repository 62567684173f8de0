"""A backtest run in words and as CSV (the run's page and its download)."""

import csv
import io
from collections.abc import Iterable
from typing import Any

from insights.backtest import OUTCOMES
from insights.models import BacktestRun, BacktestTicket


def _safe(value: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _params(params: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((params or {}).items()))


def outcome_text(outcome: str, action: str, params: dict[str, Any] | None) -> str:
    """ "executed: install_software (Zoom)", "escalated", "no agent decision"."""
    text = OUTCOMES.get(outcome, outcome)
    if action and outcome not in ("none", "error", "ask"):
        text += f": {action}"
        if params:
            text += " (" + ", ".join(str(v) for _, v in sorted(params.items())) + ")"
    return text


CSV_COLUMNS = [
    "ticket",
    "created_at",
    "queue",
    "before_outcome",
    "before_action",
    "before_params",
    "after_outcome",
    "after_action",
    "after_params",
    "after_rules",
    "after_reason",
    "change",
]


def backtest_csv(run: BacktestRun) -> Iterable[str]:
    """Every replayed ticket, one line each (at most ``MAX_TICKETS``), chunk by chunk."""
    out = io.StringIO()
    writer = csv.writer(out)

    def flush() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    rows = BacktestTicket.objects.filter(run=run).select_related("ticket").order_by("ticket_id")
    for row in rows.iterator(chunk_size=2000):
        writer.writerow(
            [
                row.ticket.reference,
                row.ticket.created_at.isoformat(timespec="seconds"),
                row.queue,
                row.before_outcome,
                row.before_action,
                _safe(_params(row.before_params)),
                row.after_outcome,
                row.after_action,
                _safe(_params(row.after_params)),
                " ".join(row.after_rules),
                _safe(row.after_reason),
                row.change,
            ]
        )
        yield flush()
