"""The demo catalog and built-in directory of shared/DEMO_ORG.md."""

from typing import Any

from django.db import transaction

from governance.models import (
    ActionCode,
    CatalogAction,
    DirectoryAccount,
    DirectoryGroup,
    DirectoryMembership,
    Software,
    Tier,
)
from servicedesk.demo_org import PEOPLE
from servicedesk.models import Queue

GROUPS = [
    # name, description, tier, departments for which it is standard, aliases
    ("vpn-users", "Remote-access VPN", Tier.STANDARD, [], ["vpn", "remote access", "globalprotect"]),
    ("wiki-editors", "Edit rights on the internal wiki", Tier.STANDARD, [], ["wiki", "confluence edit"]),
    (
        "engineering-repos",
        "Source repositories",
        Tier.SENSITIVE,
        ["Engineering"],
        ["repos", "repositories", "git", "source code", "github", "gitlab"],
    ),
    ("sales-crm", "The CRM", Tier.SENSITIVE, ["Sales"], ["crm", "salesforce"]),
    ("finance-reports", "Finance reporting share", Tier.SENSITIVE, [], ["finance reports", "finance share"]),
    ("payroll-admin", "Payroll administration", Tier.PRIVILEGED, [], ["payroll"]),
    ("domain-admins", "Directory administrators", Tier.PRIVILEGED, [], ["domain admin", "domain admins"]),
]

SOFTWARE = [
    ("Slack", 0, ["slack"]),
    ("Zoom", 0, ["zoom"]),
    ("Visual Studio Code", 0, ["vs code", "vscode", "visual studio code"]),
    ("7-Zip", 0, ["7zip", "7-zip", "seven zip"]),
    ("Adobe Acrobat Pro", 240, ["acrobat", "adobe acrobat", "acrobat pro"]),
    ("Tableau Desktop", 900, ["tableau"]),
    ("AutoCAD", 2100, ["autocad"]),
]

ACTIONS: list[dict[str, Any]] = [
    {
        "code": ActionCode.RESET_PASSWORD,
        "description": "Send the requester a one-time password-reset link to their registered email.",
        "example_requests": [
            "I forgot my password",
            "please reset my password",
            "my password expired",
            "I can't remember my login password",
            "need a new password for my account",
        ],
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        "risk_rules": "Autonomous, for the requester's own account only.",
        "queue": "accounts-access",
    },
    {
        "code": ActionCode.UNLOCK_ACCOUNT,
        "description": "Clear the lockout on the requester's own directory account.",
        "example_requests": [
            "my account is locked",
            "I'm locked out after too many attempts",
            "please unlock my account",
            "account lockout, can't sign in",
        ],
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        "risk_rules": "Autonomous, for the requester's own account only.",
        "queue": "accounts-access",
    },
    {
        "code": ActionCode.RESET_MFA,
        "description": "Re-enrol the requester's multi-factor authentication (new phone, lost device).",
        "example_requests": [
            "I got a new phone and my authenticator is gone",
            "reset my MFA",
            "lost my 2FA device",
            "my authenticator app codes don't work anymore",
        ],
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        "risk_rules": "High risk: always needs a service-desk staff approval.",
        "requires_staff_approval": True,
        "hourly_budget": 10,
        "queue": "accounts-access",
    },
    {
        "code": ActionCode.GRANT_GROUP_ACCESS,
        "description": "Add the requester to one directory group from the catalog.",
        "example_requests": [
            "I need VPN access",
            "please add me to the wiki editors group",
            "can I get access to the repos",
            "I need access to the CRM",
        ],
        "parameters": {
            "type": "object",
            "properties": {"group": {"type": "string", "enum": [name for name, *_ in GROUPS]}},
            "required": ["group"],
            "additionalProperties": False,
        },
        "risk_rules": "Standard groups: autonomous. Sensitive: the requester's manager approves. "
        "Privileged: never the agent, a human decides.",
        "queue": "accounts-access",
    },
    {
        "code": ActionCode.INSTALL_SOFTWARE,
        "description": "Assign one catalog software package to the requester's device.",
        "example_requests": [
            "please install Zoom",
            "I need Slack on my laptop",
            "can I get Visual Studio Code",
            "I need a licence for Tableau",
        ],
        "parameters": {
            "type": "object",
            "properties": {"software": {"type": "string", "enum": [name for name, *_ in SOFTWARE]}},
            "required": ["software"],
            "additionalProperties": False,
        },
        "risk_rules": "Up to 250 USD a year: autonomous. Above: the manager approves. "
        "Above 1,500 USD: the manager and the service-desk lead approve.",
        "autonomous_max_cost_usd": 250,
        "lead_approval_above_usd": 1500,
        "queue": "software",
    },
]

# Starting memberships, so the workspace shows something real.
MEMBERSHIPS = {
    "bob": ["engineering-repos", "vpn-users"],
    "dave": ["engineering-repos"],
    "carol": ["sales-crm"],
    "erin": ["engineering-repos", "vpn-users"],
    "ivan": ["domain-admins"],
    "judy": ["domain-admins"],
}


@transaction.atomic
def demo_catalog_load() -> None:
    """Create the catalog, groups, software and directory accounts. Idempotent; never resets state
    such as lockouts or memberships made since."""
    for name, description, tier, departments, aliases in GROUPS:
        DirectoryGroup.objects.update_or_create(
            name=name,
            defaults={
                "description": description,
                "tier": tier,
                "standard_for_departments": departments,
                "aliases": aliases,
            },
        )
    for name, cost, aliases in SOFTWARE:
        Software.objects.update_or_create(name=name, defaults={"yearly_cost_usd": cost, "aliases": aliases})
    for spec in ACTIONS:
        fields = dict(spec)
        code = fields.pop("code")
        fields["queue"] = Queue.objects.team(str(fields["queue"]))
        CatalogAction.objects.get_or_create(code=code, defaults=fields)
    for person in PEOPLE:
        account, created = DirectoryAccount.objects.get_or_create(
            username=person.username,
            defaults={
                "display_name": f"{person.first_name} {person.last_name}",
                "email": f"{person.username}@example.com",
                "department": person.department,
                "protected": person.protected,
            },
        )
        if created:
            for group in MEMBERSHIPS.get(person.username, []):
                DirectoryMembership.objects.get_or_create(
                    account=account, group=DirectoryGroup.objects.get(name=group)
                )
