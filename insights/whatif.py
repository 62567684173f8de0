"""What-if catalog changes for the backtest: tried on in-memory copies of the catalog rows (the policy's
``PolicySource`` and the router's ``Catalog`` snapshot), never saved."""

import copy
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from agents.router import Router, action_examples, get_encoder, get_router
from governance.models import AgentControl, CatalogAction, DirectoryGroup, Execution, Software
from governance.policy import PolicySource
from insights.models import BacktestRun
from understanding.catalog import Catalog

# What-if changes ---------------------------------------------------------------------------------

# (kind, field) -> what people read. Only knobs that exist in the catalog and that decide() reads.
KNOBS: dict[tuple[str, str], str] = {
    ("action", "enabled"): "enabled",
    ("action", "requires_staff_approval"): "needs a service-desk approval",
    ("action", "autonomous_max_cost_usd"): "autonomous licence-cost limit (USD a year)",
    ("action", "lead_approval_above_usd"): "lead approval above (USD a year)",
    ("software", "yearly_cost_usd"): "licence cost (USD a year)",
    ("group", "tier"): "tier",
}


@dataclass(frozen=True)
class WhatIf:
    """One catalog change tried in memory: ``kind`` action | software | group, the row's code or
    name, the field, its value now and the value to try."""

    kind: str
    name: str
    field: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "field": self.field,
            "before": self.before,
            "after": self.after,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WhatIf":
        change = cls(str(data["kind"]), str(data["name"]), str(data["field"]), data["before"], data["after"])
        if (change.kind, change.field) not in KNOBS:
            raise ValueError(f"not a what-if knob: {change.kind}.{change.field}")
        return change

    def describe(self) -> str:
        def show(value: Any) -> str:
            if value is None:
                return "none"
            if isinstance(value, bool):
                return "yes" if value else "no"
            return str(value)

        if self.field == "enabled":
            words = {True: "enabled", False: "disabled"}
            return f"{self.name}: {words[bool(self.before)]} → {words[bool(self.after)]}"
        return f"{self.name}: {KNOBS[(self.kind, self.field)]} {show(self.before)} → {show(self.after)}"


def whatifs_of(run: BacktestRun) -> list[WhatIf]:
    return [WhatIf.from_dict(c) for c in (run.overrides or {}).get("changes", [])]


class WhatIfSource(PolicySource):
    """The catalog as ``decide`` would read it with the changes made: unsaved copies, loaded once.

    The kill switch, action pauses and hourly budgets are live state, not policy: not replayed.
    """

    def __init__(self, changes: Iterable[WhatIf] = ()) -> None:
        self.actions = {a.code: a for a in CatalogAction.objects.select_related("queue")}
        self.groups = {g.name.lower(): g for g in DirectoryGroup.objects.all()}
        self.software_rows = {s.name.lower(): s for s in Software.objects.all()}
        for action in self.actions.values():
            action.paused = False
        tables: dict[str, dict[str, Any]] = {
            "action": self.actions,
            "group": self.groups,
            "software": self.software_rows,
        }
        for change in changes:
            row = tables[change.kind].get(change.name if change.kind == "action" else change.name.lower())
            if row is not None:
                setattr(row, change.field, change.after)  # in memory only: never saved

    def control(self) -> AgentControl | None:
        return None

    def action(self, code: str) -> CatalogAction | None:
        return self.actions.get(code)

    def group(self, name: str) -> DirectoryGroup | None:
        return self.groups.get(name.lower())

    def software(self, name: str) -> Software | None:
        return self.software_rows.get(name.lower())

    def budget_used(self, action: CatalogAction, recheck_of: Execution | None) -> int:
        return 0


def whatif_catalog(catalog: Catalog, changes: Iterable[WhatIf]) -> Catalog:
    """The router's snapshot with the changes the router itself reads (enabled, tier, cost)."""
    actions, groups, software = list(catalog.actions), list(catalog.groups), list(catalog.software)
    for change in changes:
        if change.kind == "action" and change.field == "enabled":
            actions = [
                replace(a, enabled=bool(change.after)) if a.code == change.name else a for a in actions
            ]
        elif change.kind == "group":
            groups = [replace(g, tier=str(change.after)) if g.name == change.name else g for g in groups]
        elif change.kind == "software":
            software = [
                replace(s, yearly_cost_usd=int(change.after)) if s.name == change.name else s
                for s in software
            ]
    return replace(catalog, actions=tuple(actions), groups=tuple(groups), software=tuple(software))


def whatif_router(catalog: Catalog) -> Router:
    """The process's router when the catalog is the live one; otherwise one that reads the changed
    catalog. None of the what-if knobs changes an example sentence, so the live router's embeddings
    are reused when the examples match (checked), instead of embedding them all again."""
    live = get_router()
    if live.catalog.key == catalog.key:
        return live
    if action_examples(catalog) == live.examples:
        router = copy.copy(live)
        router.catalog = catalog
        return router
    return Router(get_encoder(), catalog)
