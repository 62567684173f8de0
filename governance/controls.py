"""The kill switch and catalog edits: the only ways people change what the agent may do.

Each service is one transaction that locks the row it changes and writes its audit event in the same
transaction, so a toggle and its record commit (or roll back) together. Only managers may call them
(``can_control_agent``); the admin and the API check the same function before calling.
"""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.utils import timezone

from core.audit import audit_record
from core.locks import row_lock
from governance.models import AgentControl, AgentMode, CatalogAction, DirectoryGroup, Software, Tier
from servicedesk.roles import is_manager

REASON_MAX_LENGTH = 500

# Catalog action fields a manager may edit here. ``paused``/``paused_reason`` belong to the kill switch
# (``action_pause``/``action_resume``), and ``code`` is the action's identity.
CATALOG_ACTION_EDITABLE = frozenset(
    {
        "description",
        "example_requests",
        "parameters",
        "risk_rules",
        "enabled",
        "hourly_budget",
        "requires_staff_approval",
        "autonomous_max_cost_usd",
        "lead_approval_above_usd",
        "queue",
    }
)

CatalogObject = CatalogAction | DirectoryGroup | Software


class ControlError(ValueError):
    """A request the kill switch refuses; ``field`` names the input at fault (for forms and the API)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def can_control_agent(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    """Managers (and superusers) toggle the kill switch and edit the catalog; nobody else."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return bool(getattr(user, "is_superuser", False)) or is_manager(user)


def _require_controller(user: User) -> None:
    if not can_control_agent(user):
        raise PermissionDenied("Only managers may pause or resume the agent or edit the catalog.")


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ControlError("A reason is required: say why it is paused or resumed.", field="reason")
    if len(reason) > REASON_MAX_LENGTH:
        raise ControlError(f"The reason is too long: at most {REASON_MAX_LENGTH} characters.", field="reason")
    return reason


def _locked_control() -> AgentControl:
    # get_or_create first: select_for_update cannot lock a row that does not exist yet.
    AgentControl.objects.get_or_create(pk=1)
    return row_lock(AgentControl, 1)


def _locked_action(code: str) -> CatalogAction:
    action = CatalogAction.objects.select_for_update().filter(code=code).first()
    if action is None:
        raise ControlError(f"{code!r} is not in the catalog.", field="action")
    return action


def _set_agent(*, paused: bool, reason: str, by: User | None) -> AgentControl:
    control = _locked_control()
    before = {"paused": control.paused, "reason": control.reason}
    control.paused = paused
    control.reason = reason
    control.changed_by = by
    control.changed_at = timezone.now()
    control.save(update_fields=["paused", "reason", "changed_by", "changed_at"])
    audit_record(
        code="agent.paused" if paused else "agent.resumed",
        actor_kind="user" if by else "system",
        actor=by,
        actor_label="" if by else "system",
        data={"reason": reason, "before": before, "after": {"paused": paused, "reason": reason}},
    )
    return control


def _set_action(*, code: str, paused: bool, reason: str, by: User | None) -> CatalogAction:
    action = _locked_action(code)
    before = {"paused": action.paused, "paused_reason": action.paused_reason}
    action.paused = paused
    action.paused_reason = reason if paused else ""
    action.save(update_fields=["paused", "paused_reason", "updated_at"])
    audit_record(
        code="action.paused" if paused else "action.resumed",
        actor_kind="user" if by else "system",
        actor=by,
        actor_label="" if by else "system",
        data={
            "action": action.code,
            "reason": reason,
            "before": before,
            "after": {"paused": action.paused, "paused_reason": action.paused_reason},
        },
    )
    return action


@transaction.atomic
def agent_pause(*, by: User, reason: str) -> AgentControl:
    """Stop the agent acting on anything: new tickets go to humans, and the executor refuses."""
    _require_controller(by)
    reason = _clean_reason(reason)
    return _set_agent(paused=True, reason=reason, by=by)


@transaction.atomic
def agent_resume(*, by: User, reason: str) -> AgentControl:
    _require_controller(by)
    reason = _clean_reason(reason)
    return _set_agent(paused=False, reason=reason, by=by)


@transaction.atomic
def action_pause(*, code: str, by: User, reason: str) -> CatalogAction:
    _require_controller(by)
    reason = _clean_reason(reason)
    return _set_action(code=code, paused=True, reason=reason, by=by)


@transaction.atomic
def action_resume(*, code: str, by: User, reason: str) -> CatalogAction:
    _require_controller(by)
    reason = _clean_reason(reason)
    return _set_action(code=code, paused=False, reason=reason, by=by)


@transaction.atomic
def system_pause(*, reason: str, code: str | None = None) -> AgentControl | CatalogAction:
    """An automated pause (an anomaly detector): the agent, or one action when ``code`` is given."""
    reason = _clean_reason(reason)
    if code is None:
        return _set_agent(paused=True, reason=reason, by=None)
    return _set_action(code=code, paused=True, reason=reason, by=None)


@transaction.atomic
def agent_mode_set(
    *, by: User, mode: str, reason: str, pilot_departments: list[str] | None = None, pilot_percent: int = 0
) -> AgentControl:
    """Change the agent's mode (off / shadow / pilot / production) and the pilot cohort; audited."""
    _require_controller(by)
    reason = _clean_reason(reason)
    if mode not in AgentMode.values:
        raise ControlError(f"choose one of {', '.join(AgentMode.values)}", field="mode")
    if not 0 <= pilot_percent <= 100:
        raise ControlError("a share between 0 and 100", field="pilot_percent")
    control, _ = AgentControl.objects.select_for_update().get_or_create(pk=1)
    before = {
        "mode": control.mode,
        "pilot_departments": control.pilot_departments,
        "pilot_percent": control.pilot_percent,
    }
    control.mode, control.pilot_departments, control.pilot_percent = (
        mode,
        list(pilot_departments or []),
        pilot_percent,
    )
    control.changed_by, control.changed_at = by, timezone.now()
    control.save()
    after = {
        "mode": control.mode,
        "pilot_departments": control.pilot_departments,
        "pilot_percent": control.pilot_percent,
    }
    audit_record(
        code="agent.mode_changed",
        actor_kind="user",
        actor=by,
        data={"reason": reason, "before": before, "after": after},
    )
    return control


def kill_switch_state() -> dict[str, Any]:
    """The global switch and each catalog action's pause, for the admin page and the API."""
    control = AgentControl.objects.select_related("changed_by").filter(pk=1).first()
    actions = CatalogAction.objects.order_by("code").values("code", "enabled", "paused", "paused_reason")
    return {
        "agent": {
            "paused": bool(control and control.paused),
            "reason": control.reason if control else "",
            "changed_by": control.changed_by.get_username() if control and control.changed_by else None,
            "changed_at": control.changed_at if control else None,
        },
        "actions": [
            {"code": a["code"], "enabled": a["enabled"], "paused": a["paused"], "reason": a["paused_reason"]}
            for a in actions
        ],
    }


# Catalog edits -------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return getattr(value, "slug", None) or value.pk  # the queue: its stable slug
    return value


def _field_names(instance: models.Model) -> list[str]:
    return [
        f.name
        for f in instance._meta.concrete_fields
        if f.editable and not f.primary_key and not getattr(f, "auto_now", False)
    ]


def _snapshot(instance: models.Model, names: list[str]) -> dict[str, Any]:
    return {name: _jsonable(getattr(instance, name)) for name in names}


def group_tier_problem(*, tier: str | None, departments: Any) -> str | None:
    """Why a group's tier and departments do not fit together, or None.

    ``decide`` treats a group listed as standard for a department as standard for it, whatever its
    tier; a privileged group must therefore never be listed, or the agent would grant it.
    """
    if tier == Tier.PRIVILEGED and departments:
        return "A privileged group is never standard for a department; leave this list empty."
    return None


def _check_group(instance: models.Model) -> None:
    if isinstance(instance, DirectoryGroup):
        problem = group_tier_problem(tier=instance.tier, departments=instance.standard_for_departments)
        if problem:
            raise ControlError(problem, field="standard_for_departments")


def _record_catalog(*, by: User, instance: models.Model, operation: str, before: dict, after: dict) -> None:
    audit_record(
        code="catalog.changed",
        actor_kind="user",
        actor=by,
        data={
            "model": instance._meta.label_lower,
            "object": str(instance),
            "object_id": instance.pk,
            "operation": operation,
            "before": before,
            "after": after,
        },
    )


def _update_locked(*, instance: CatalogObject, by: User, changes: dict[str, Any]) -> CatalogObject:
    """Apply ``changes`` to the locked database row (not to the caller's copy, which a form may have
    modified already), record only the fields whose value really changed, and refresh the caller's copy."""
    allowed = set(_field_names(instance))
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}.")
    locked = type(instance)._default_manager.select_for_update().get(pk=instance.pk)
    before_all = _snapshot(locked, sorted(changes))
    for name, value in changes.items():
        setattr(locked, name, value)
    after_all = _snapshot(locked, sorted(changes))
    changed = [name for name in sorted(changes) if before_all[name] != after_all[name]]
    if changed:
        _check_group(locked)
        locked.full_clean()
        locked.save(update_fields=changed + (["updated_at"] if isinstance(locked, CatalogAction) else []))
        _record_catalog(
            by=by,
            instance=locked,
            operation="change",
            before={name: before_all[name] for name in changed},
            after={name: after_all[name] for name in changed},
        )
    instance.refresh_from_db()
    return instance


@transaction.atomic
def catalog_action_update(*, action: CatalogAction, by: User, changes: dict[str, Any]) -> CatalogAction:
    """Edit a catalog action; the audit event holds the before and after of each changed field."""
    _require_controller(by)
    kill_switch_fields = {"paused", "paused_reason"} & set(changes)
    if kill_switch_fields:
        raise ValueError("Pause and resume an action with the kill switch, not as a catalog edit.")
    not_editable = set(changes) - CATALOG_ACTION_EDITABLE
    if not_editable:
        raise ValueError(f"Not editable: {', '.join(sorted(not_editable))}.")
    updated = _update_locked(instance=action, by=by, changes=changes)
    assert isinstance(updated, CatalogAction)
    return updated


@transaction.atomic
def catalog_change_record(
    *, by: User, instance: CatalogObject, operation: str, changes: dict[str, Any] | None = None
) -> CatalogObject:
    """Add, change or delete a catalog group, software package or action, and record it.

    ``operation`` is "add" (``instance`` is unsaved), "change" (``changes`` maps field to new value)
    or "delete". Actions go through ``catalog_action_update`` for changes and are never deleted
    (disable them instead), so their pause stays with the kill switch.
    """
    _require_controller(by)
    if operation == "change":
        if isinstance(instance, CatalogAction):
            return catalog_action_update(action=instance, by=by, changes=changes or {})
        return _update_locked(instance=instance, by=by, changes=changes or {})
    names = _field_names(instance)
    if operation == "add":
        if isinstance(instance, CatalogAction) and (instance.paused or instance.paused_reason):
            raise ValueError("A new action starts unpaused; pause it with the kill switch.")
        _check_group(instance)
        instance.full_clean()
        instance.save(force_insert=True)
        _record_catalog(
            by=by, instance=instance, operation="add", before={}, after=_snapshot(instance, names)
        )
        return instance
    if operation == "delete":
        if isinstance(instance, CatalogAction):
            raise ValueError("Catalog actions are not deleted; disable the action instead.")
        locked = type(instance)._default_manager.select_for_update().get(pk=instance.pk)
        before = _snapshot(locked, names)
        _record_catalog(by=by, instance=locked, operation="delete", before=before, after={})
        locked.delete()
        return instance
    raise ValueError(f"Unknown catalog operation {operation!r}.")
