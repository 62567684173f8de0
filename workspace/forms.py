"""Forms of the staff workspace: they parse and validate; the services decide."""

from typing import Any

from django import forms
from django.contrib.auth.models import User

from governance.models import ActionCode
from servicedesk.models import COMMENT_MAX_LENGTH, TEAM_QUEUES, Priority, TicketStatus
from servicedesk.states import STAFF_SETTABLE
from workspace.selectors import SCOPES, SORTS, STATES, QueueFilter

QUEUE_CHOICES = [(slug, name) for slug, name, _ in TEAM_QUEUES]
PER_PAGE = [25, 50, 100]
NO_ACTION = [("", "No catalog action: a person handles it")]


class QueueFilterForm(forms.Form):
    scope = forms.ChoiceField(choices=SCOPES, required=False)
    state = forms.ChoiceField(choices=STATES, required=False)
    q = forms.CharField(max_length=200, required=False, strip=True)
    sort = forms.ChoiceField(choices=SORTS, required=False)
    per_page = forms.TypedChoiceField(
        choices=[(n, n) for n in PER_PAGE], coerce=int, required=False, empty_value=None
    )

    def filters(self) -> QueueFilter:
        """The filters asked for; anything invalid falls back to the default."""
        data = self.cleaned_data if self.is_valid() else {}
        return QueueFilter(
            scope=data.get("scope") or "all",
            state=data.get("state") or "open",
            q=data.get("q") or "",
            sort=data.get("sort") or "sla",
        )

    def per_page_or(self, default: int) -> int:
        return (self.cleaned_data.get("per_page") if self.is_valid() else None) or default


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Message",
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"required": "Please write a reply or a note."},
    )
    visibility = forms.ChoiceField(
        choices=[("public", "Public reply"), ("internal", "Internal note")],
        initial="public",
        widget=forms.RadioSelect,
    )
    minutes = forms.IntegerField(label="Time spent (min)", min_value=0, max_value=600, required=False)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=User.objects.none(), empty_label=None)

    def __init__(self, *args: Any, staff: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if staff is not None:
            self.fields["assignee"].queryset = staff  # type: ignore[attr-defined]
        self.fields["assignee"].label_from_instance = (  # type: ignore[attr-defined]
            lambda user: user.get_full_name() or user.get_username()
        )


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(choices=Priority.choices)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=[(s, TicketStatus(s).label) for s in STAFF_SETTABLE])


class ResolveForm(forms.Form):
    message = forms.CharField(
        label="Resolution reply (optional, public)",
        max_length=COMMENT_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    minutes = forms.IntegerField(label="Time spent (min)", min_value=0, max_value=600, required=False)


class StaffReopenForm(forms.Form):
    reason = forms.CharField(
        label="Why reopen it?", max_length=500, error_messages={"required": "Please say why."}
    )


class MoveForm(forms.Form):
    queue = forms.ChoiceField(label="Move to", choices=QUEUE_CHOICES)
    note = forms.CharField(label="Why (optional)", max_length=500, required=False)


class _ActionParamsMixin:
    """``group`` and ``software`` choices from the catalog; the chosen action says which one counts."""

    def _set_catalog(self, groups: list[str], software: list[tuple[str, int]]) -> None:
        fields = self.fields  # type: ignore[attr-defined]
        fields["group"].choices = [("", "—"), *[(name, name) for name in groups]]
        fields["software"].choices = [
            ("", "—"),
            *[(name, f"{name} ({cost:,} USD/yr)" if cost else f"{name} (free)") for name, cost in software],
        ]

    def params(self) -> dict[str, str]:
        data = self.cleaned_data  # type: ignore[attr-defined]
        key = {ActionCode.GRANT_GROUP_ACCESS: "group", ActionCode.INSTALL_SOFTWARE: "software"}.get(
            data.get(self.action_field, "")  # type: ignore[attr-defined]
        )
        return {key: data[key]} if key and data.get(key) else {}


class CatalogActionForm(_ActionParamsMixin, forms.Form):
    action_field = "action"
    action = forms.ChoiceField(label="Action", choices=ActionCode.choices)
    group = forms.ChoiceField(label="Group (for group access)", required=False)
    software = forms.ChoiceField(label="Software (for installs)", required=False)

    def __init__(
        self,
        *args: Any,
        actions: list[tuple[str, str]] | None = None,
        groups: list[str] = (),  # type: ignore[assignment]
        software: list[tuple[str, int]] = (),  # type: ignore[assignment]
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if actions is not None:
            self.fields["action"].choices = actions  # type: ignore[attr-defined]
        self._set_catalog(list(groups), list(software))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action == ActionCode.GRANT_GROUP_ACCESS and not data.get("group"):
            self.add_error("group", "Choose the group.")
        if action == ActionCode.INSTALL_SOFTWARE and not data.get("software"):
            self.add_error("software", "Choose the software.")
        return data


class CorrectionForm(_ActionParamsMixin, forms.Form):
    action_field = "correct_action"
    verdict = forms.ChoiceField(
        choices=[("right", "Agent was right"), ("wrong", "Agent was wrong")], widget=forms.RadioSelect
    )
    correct_action = forms.ChoiceField(
        label="The right action", choices=[*NO_ACTION, *ActionCode.choices], required=False
    )
    group = forms.ChoiceField(label="Group", required=False)
    software = forms.ChoiceField(label="Software", required=False)
    correct_queue = forms.ChoiceField(
        label="The right queue", choices=[("", "—"), *QUEUE_CHOICES], required=False
    )
    note = forms.CharField(label="Note (optional)", max_length=1000, required=False)

    def __init__(
        self,
        *args: Any,
        groups: list[str] = (),  # type: ignore[assignment]
        software: list[tuple[str, int]] = (),  # type: ignore[assignment]
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._set_catalog(list(groups), list(software))
