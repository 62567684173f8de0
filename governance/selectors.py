"""Governance reads: who may decide an approval step, what is waiting for a user, actions in words."""

from typing import Any

from django.contrib.auth.models import User
from django.db.models import Q

from governance.models import (
    ActionCode,
    ApprovalStatus,
    ApprovalStep,
    ApproverRole,
    CatalogAction,
)
from servicedesk.models import Role
from servicedesk.roles import has_role

# The Django group whose members may decide a step that names a role rather than a person.
APPROVER_GROUPS = {
    ApproverRole.SERVICE_DESK: Role.SERVICE_DESK,
    ApproverRole.SERVICE_DESK_LEAD: Role.SERVICE_DESK_LEAD,
    ApproverRole.MANAGER: Role.MANAGER,
}


def approvers_for(step: ApprovalStep) -> list[User]:
    """Who may decide this step: the named approver, or everyone holding the role; never the
    requester, and never the staff member who ran the action (four eyes)."""
    excluded = {step.request.requester_id, step.request.started_by_id}
    if step.approver_id:
        return [step.approver] if step.approver_id not in excluded and step.approver else []
    group = APPROVER_GROUPS[ApproverRole(step.role)]
    return list(
        User.objects.filter(groups__name=group.value, is_active=True).exclude(pk__in=excluded - {None})
    )


def step_label(step: ApprovalStep) -> str:
    if step.approver_id and step.approver:
        return step.approver.get_full_name() or step.approver.get_username()
    return ApproverRole(step.role).label.lower().replace("the requester's", "your")


def can_decide_step(user: User, step: ApprovalStep) -> bool:
    if not user.is_active or step.decision:
        return False
    if user.pk in (step.request.requester_id, step.request.started_by_id):
        return False
    if step.request.steps.filter(decided_by=user).exists():  # two approvers means two people
        return False
    if step.approver_id:
        return step.approver_id == user.pk
    role = APPROVER_GROUPS[ApproverRole(step.role)]
    return has_role(user, role)


def pending_steps_for(user: User) -> list[ApprovalStep]:
    steps = (
        ApprovalStep.objects.filter(request__status=ApprovalStatus.PENDING, decision="")
        .filter(Q(approver=user) | Q(approver__isnull=True))
        .exclude(request__requester=user)
        .exclude(request__started_by=user)
        .select_related("request__ticket", "request__requester", "approver")
        .order_by("-request__created_at")
    )
    return [step for step in steps if can_decide_step(user, step)]


def action_queue(code: str) -> str:
    action = CatalogAction.objects.select_related("queue").filter(code=code).first()
    return action.queue.slug if action else "general"


def describe_action(action: str, params: dict[str, Any]) -> str:
    """The action in words, for replies and the approvals page."""
    if action == ActionCode.GRANT_GROUP_ACCESS:
        return f"Grant access to the group {params.get('group')}"
    if action == ActionCode.INSTALL_SOFTWARE:
        return f"Install {params.get('software')}"
    return ActionCode(action).label if action in ActionCode.values else action
