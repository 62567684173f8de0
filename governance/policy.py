"""``decide(proposal, requester)``: deterministic, no model. The model proposes; this disposes.

Rules run in a fixed order and the first that settles the matter wins; every rule that fired is
named in ``Decision.rule_ids`` (stable ids, explained to people by ``RULES``). The executor calls
``decide`` again right before the side effect, so a pause or catalog change in between still counts.
"""

from dataclasses import replace
from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from governance.models import (
    ActionCode,
    AgentControl,
    ApproverRole,
    CatalogAction,
    DirectoryAccount,
    DirectoryGroup,
    Execution,
    ExecutionStatus,
    Software,
    Tier,
)
from governance.types import ApproverSpec, Decision, Outcome, Proposal, action_digest
from servicedesk.models import TEAM_QUEUES, Profile

# Rule id → what it means, for the staff workspace and the audit browser.
RULES: dict[str, str] = {
    "agent_paused": "The agent is paused (kill switch).",
    "no_action": "No catalog action applies; a human handles the request.",
    "not_in_catalog": "The action is not in the catalog: denied by default.",
    "action_disabled": "The action is disabled in the catalog.",
    "action_paused": "The action is paused (kill switch).",
    "invalid_params": "The parameters do not fit the action.",
    "unknown_group": "The group is not in the catalog.",
    "unknown_software": "The software is not in the catalog.",
    "other_account": "The request is about someone else's account; the agent acts only on the requester's.",
    "requester_inactive": "The requester's account is inactive.",
    "protected_account": "The requester's account is protected; the agent never acts on it.",
    "no_directory_account": "The requester has no directory account.",
    "rate_budget": "The action's hourly budget is used up.",
    "standard_group": "Standard group for this requester: the agent may grant it.",
    "sensitive_group": "Sensitive group: the requester's manager approves.",
    "privileged_group": "Privileged group: never granted by the agent; a human decides.",
    "software_free_tier": "Software within the autonomous cost limit.",
    "software_manager": "Software above the autonomous cost limit: the manager approves.",
    "software_lead": "Software above the lead's cost limit: the manager and the service-desk lead approve.",
    "mfa_staff_approval": "MFA reset is high risk: a service-desk staff member approves.",
    "no_manager": "Approval needs the requester's manager, and none is on record.",
    "approver_not_requester": "An approver is never the requester.",
    "autonomous": "Autonomous action for the requester's own account.",
}

_TEAM_SLUGS = {slug for slug, *_ in TEAM_QUEUES}


def _escalate(rules: list[str], reason: str, queue: str) -> Decision:
    return Decision(outcome=Outcome.ESCALATE, rule_ids=tuple(rules), reason=reason, queue=queue)


class PolicySource:
    """Where ``decide`` reads the catalog and the live limits: the database. The backtest
    (``insights.backtest``) passes its own, with what-if catalog changes applied in memory."""

    def control(self) -> AgentControl | None:
        return AgentControl.objects.filter(pk=1).first()

    def action(self, code: str) -> CatalogAction | None:
        return CatalogAction.objects.select_related("queue").filter(code=code).first()

    def group(self, name: str) -> DirectoryGroup | None:
        return DirectoryGroup.objects.filter(name__iexact=name).first()

    def software(self, name: str) -> Software | None:
        return Software.objects.filter(name__iexact=name).first()

    def budget_used(self, action: CatalogAction, recheck_of: Execution | None) -> int:
        return _budget_used(action, recheck_of)


DATABASE = PolicySource()


def decide(
    proposal: Proposal,
    requester: User,
    *,
    recheck_of: Execution | None = None,
    source: PolicySource = DATABASE,
) -> Decision:
    """``recheck_of``: the executor's last check; that execution does not count against the budget."""
    fallback_queue = proposal.suggested_queue if proposal.suggested_queue in _TEAM_SLUGS else "general"
    control = source.control()
    if control and control.paused:
        return _escalate(["agent_paused"], f"agent paused: {control.reason}".rstrip(": "), fallback_queue)
    if not proposal.action:
        return _escalate(["no_action"], "no catalog action applies", fallback_queue)
    action = source.action(proposal.action)
    if action is None or proposal.action not in ActionCode.values:
        return _escalate(["not_in_catalog"], f"{proposal.action!r} is not in the catalog", "general")
    queue = action.queue.slug
    if not action.enabled:
        return _escalate(["action_disabled"], f"{action.code} is disabled", queue)
    if action.paused:
        return _escalate(
            ["action_paused"], f"{action.code} is paused: {action.paused_reason}".rstrip(": "), queue
        )
    return _decide_for_requester(proposal, requester, action, queue, recheck_of, source)


def _decide_for_requester(
    proposal: Proposal,
    requester: User,
    action: CatalogAction,
    queue: str,
    recheck_of: Execution | None,
    source: PolicySource,
) -> Decision:
    params, problem = _normalise_params(action, proposal.params, source)
    if problem:
        rule = problem[0]
        return _escalate([rule], problem[1], queue)
    if proposal.target and proposal.target.strip().lower() != requester.get_username().lower():
        return _escalate(["other_account"], "the request concerns another person's account", queue)
    if not requester.is_active:
        return _escalate(["requester_inactive"], "the requester's account is inactive", queue)
    profile = Profile.objects.filter(user=requester).first()
    account = DirectoryAccount.objects.filter(username=requester.get_username()).first()
    if (profile and profile.is_protected) or (account and account.protected):
        return _escalate(["protected_account"], "protected account: a human decides", queue)
    if account is None:
        return _escalate(["no_directory_account"], "the requester has no directory account", queue)
    if source.budget_used(action, recheck_of) >= action.hourly_budget:
        return _escalate(
            ["rate_budget"], f"{action.code}: hourly budget of {action.hourly_budget} used up", queue
        )

    base = Decision(
        outcome=Outcome.EXECUTE,
        rule_ids=(),
        reason="",
        queue=queue,
        digest=action_digest(action=action.code, params=params, requester_id=requester.pk),
        action=action.code,
        params=params,
    )
    rules, approvers, reason = _approval_rules(action, params, profile, source)
    if rules == ["privileged_group"]:
        return replace(base, outcome=Outcome.ESCALATE, rule_ids=tuple(rules), reason=reason)
    if not approvers:
        return replace(base, rule_ids=tuple(rules), reason=reason)
    manager_id = profile.manager_id if profile else None
    needs_manager = any(a.role == ApproverRole.MANAGER for a in approvers)
    if needs_manager and manager_id is None:
        return replace(
            base, outcome=Outcome.ESCALATE, rule_ids=(*rules, "no_manager"), reason="no manager on record"
        )
    if needs_manager and manager_id == requester.pk:
        reason = "the requester cannot approve their own request"
        return replace(
            base, outcome=Outcome.ESCALATE, rule_ids=(*rules, "approver_not_requester"), reason=reason
        )
    return replace(
        base,
        outcome=Outcome.NEEDS_APPROVAL,
        rule_ids=(*rules, "approver_not_requester"),
        reason=reason,
        approvers=approvers,
    )


def _normalise_params(
    action: CatalogAction, raw: dict[str, str], source: PolicySource
) -> tuple[dict[str, str], tuple[str, str] | None]:
    """Check parameters against the action's schema; map names to catalog spelling (case-insensitive)."""
    schema = action.parameters or {}
    allowed = set((schema.get("properties") or {}).keys())
    required = set(schema.get("required") or [])
    if not isinstance(raw, dict):  # a forged proposal may carry anything
        return {}, ("invalid_params", f"parameters must be a mapping, not {type(raw).__name__}")
    raw = {str(k): v for k, v in raw.items()}
    if (
        set(raw) - allowed
        or required - set(raw)
        or any(not isinstance(v, str) or not v.strip() for v in raw.values())
    ):
        return {}, ("invalid_params", f"parameters {sorted(raw)} do not fit {action.code}")
    params = {key: value.strip() for key, value in raw.items()}
    if "group" in params:
        group = source.group(params["group"])
        if group is None:
            return {}, ("unknown_group", f"unknown group {params['group']!r}")
        params["group"] = group.name
    if "software" in params:
        software = source.software(params["software"])
        if software is None:
            return {}, ("unknown_software", f"unknown software {params['software']!r}")
        params["software"] = software.name
    return params, None


def _budget_used(action: CatalogAction, recheck_of: Execution | None) -> int:
    since = timezone.now() - timedelta(hours=1)
    executions = Execution.objects.filter(action=action.code, started_at__gte=since).exclude(
        status=ExecutionStatus.FAILED
    )
    if recheck_of is not None:
        executions = executions.exclude(pk=recheck_of.pk)
    return executions.count()


def _approval_rules(
    action: CatalogAction, params: dict[str, str], profile: Profile | None, source: PolicySource
) -> tuple[list[str], tuple[ApproverSpec, ...], str]:
    """Which rule applies and who must approve. No approvers means: execute."""
    manager = ApproverSpec(ApproverRole.MANAGER, profile.manager_id if profile else None)
    if action.code == ActionCode.GRANT_GROUP_ACCESS:
        group = source.group(params["group"])
        if group is None:  # deleted since the parameters were checked
            raise DirectoryGroup.DoesNotExist(params["group"])
        department = profile.department if profile else ""
        # A department list can lower a sensitive group to standard; nothing lowers a privileged one.
        tier = group.tier
        if tier == Tier.SENSITIVE and department and department in group.standard_for_departments:
            tier = Tier.STANDARD
        if tier == Tier.PRIVILEGED:
            return ["privileged_group"], (), f"{group.name} is privileged: a human decides"
        if tier == Tier.SENSITIVE:
            return ["sensitive_group"], (manager,), f"{group.name} is sensitive: the manager approves"
        return ["standard_group"], (), f"{group.name} is a standard group for this requester"
    if action.code == ActionCode.INSTALL_SOFTWARE:
        software = source.software(params["software"])
        if software is None:
            raise Software.DoesNotExist(params["software"])
        cost = software.yearly_cost_usd
        autonomous_max = action.autonomous_max_cost_usd if action.autonomous_max_cost_usd is not None else 0
        if action.lead_approval_above_usd is not None and cost > action.lead_approval_above_usd:
            lead = ApproverSpec(ApproverRole.SERVICE_DESK_LEAD)
            return ["software_lead"], (manager, lead), f"{software.name} costs {cost} USD a year"
        if cost > autonomous_max:
            return ["software_manager"], (manager,), f"{software.name} costs {cost} USD a year"
        return ["software_free_tier"], (), f"{software.name} costs {cost} USD a year"
    if action.requires_staff_approval:
        return ["mfa_staff_approval"], (ApproverSpec(ApproverRole.SERVICE_DESK),), "high-risk action"
    return ["autonomous"], (), "autonomous action on the requester's own account"
