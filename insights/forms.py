"""The managers' forms: the backtest's period and what-if changes."""

from typing import Any

from django import forms

from governance.models import ActionCode, CatalogAction, DirectoryGroup, Software, Tier
from insights.backtest import MAX_DAYS, MAX_TICKETS
from insights.whatif import KNOBS, WhatIf
from servicedesk.models import Queue


class BacktestForm(forms.Form):
    """A period, an optional queue and limit, and what-if catalog changes. The what-if fields start
    at the catalog's current values; whatever a manager changes becomes a ``WhatIf``, tried in memory
    only. Built from the catalog rows at the time of the request."""

    period_start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    queue = forms.ChoiceField(
        label="Queue", required=False, error_messages={"invalid_choice": "Unknown queue: %(value)s."}
    )
    limit = forms.IntegerField(
        label="At most (tickets)",
        required=False,
        min_value=1,
        max_value=MAX_TICKETS,
        help_text=f"The most recent tickets of the period, up to {MAX_TICKETS:,}; empty: all of them.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["queue"].choices = [("", "Every queue"), *Queue.objects.values_list("slug", "name")]  # type: ignore[attr-defined]
        self.knobs: list[tuple[str, str, str, str, Any]] = []  # field name, kind, row name, field, now
        self.action_rows: list[dict[str, Any]] = []
        self.software_rows: list[dict[str, Any]] = []
        self.group_rows: list[dict[str, Any]] = []
        for action in CatalogAction.objects.order_by("code"):
            row: dict[str, Any] = {
                "action": action,
                "enabled": self._knob("action", action.code, action, "enabled"),
            }
            if action.code not in (ActionCode.GRANT_GROUP_ACCESS, ActionCode.INSTALL_SOFTWARE):
                row["approval"] = self._knob("action", action.code, action, "requires_staff_approval")
            if action.code == ActionCode.INSTALL_SOFTWARE:
                row["autonomous_max"] = self._knob("action", action.code, action, "autonomous_max_cost_usd")
                row["lead_above"] = self._knob("action", action.code, action, "lead_approval_above_usd")
            self.action_rows.append(row)
        for software in Software.objects.order_by("name"):
            cost = self._knob("software", software.name, software, "yearly_cost_usd")
            self.software_rows.append({"software": software, "cost": cost})
        for group in DirectoryGroup.objects.order_by("name"):
            self.group_rows.append({"group": group, "tier": self._knob("group", group.name, group, "tier")})

    def _knob(self, kind: str, name: str, row: Any, field: str) -> forms.BoundField:
        key = f"w_{kind}_{row.pk}_{field}"
        current = getattr(row, field)
        if field in ("enabled", "requires_staff_approval"):
            choices = (
                [("1", "enabled"), ("0", "disabled")] if field == "enabled" else [("0", "no"), ("1", "yes")]
            )
            self.fields[key] = forms.TypedChoiceField(
                choices=choices, coerce=lambda v: v == "1", initial="1" if current else "0"
            )
        elif field == "tier":
            self.fields[key] = forms.ChoiceField(choices=[(t, t) for t in Tier.values], initial=current)
        else:  # USD a year; empty means none (no autonomous limit means 0, no lead limit means never)
            self.fields[key] = forms.IntegerField(
                min_value=0, max_value=10_000_000, required=field == "yearly_cost_usd", initial=current
            )
        self.fields[key].label = f"{name}: {KNOBS[(kind, field)]}"
        self.knobs.append((key, kind, name, field, current))
        return self[key]

    @property
    def changed_keys(self) -> list[str]:
        """What-if fields a manager changed (marked on the page when the form comes back with errors)."""
        return self.changed_data if self.is_bound else []

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("period_start"), data.get("period_end")
        if start and end:
            if end < start:
                self.add_error("period_end", "The period ends before it starts.")
            elif (end - start).days + 1 > MAX_DAYS:
                self.add_error("period_end", f"At most {MAX_DAYS} days in one run.")
        return data

    def changes(self) -> list[WhatIf]:
        """The what-if changes: every knob whose value differs from the catalog's."""
        return [
            WhatIf(kind, name, field, current, self.cleaned_data.get(key))
            for key, kind, name, field, current in self.knobs
            if self.cleaned_data.get(key) != current
        ]
