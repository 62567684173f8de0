"""The kill switch and catalog edits: managers only, each toggle and edit audited with who and why,
and ``decide()`` honours the pauses."""

import json

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from rest_framework.test import APIClient

from core.models import AuditEvent
from governance import controls
from governance.demo import demo_catalog_load
from governance.models import AgentControl, CatalogAction, DirectoryGroup, Software
from governance.policy import decide
from governance.types import Outcome, Proposal
from servicedesk.demo_org import demo_org_load
from servicedesk.models import Queue

pytestmark = pytest.mark.django_db

KILL_SWITCH = "/api/governance/kill-switch/"
PAUSE = "/api/governance/kill-switch/pause/"
RESUME = "/api/governance/kill-switch/resume/"
ACTION_CODES = ["grant_group_access", "install_software", "reset_mfa", "reset_password", "unlock_account"]


@pytest.fixture
def org(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    demo_org_load(password="demo")
    demo_catalog_load()
    return {user.username: user for user in User.objects.all()}


@pytest.fixture
def mark(org):
    """The last audit event before the test acts; ``_events(mark)`` lists the ones it wrote."""
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _events(mark):
    return list(
        AuditEvent.objects.filter(id__gt=mark)
        .order_by("id")
        .values("code", "actor_kind", "actor_id", "actor_label", "data")
    )


def _agent_state():
    control = AgentControl.objects.filter(pk=1).first()
    return None if control is None else (control.paused, control.reason, control.changed_by_id)


def _action_states():
    return list(CatalogAction.objects.order_by("code").values_list("code", "paused", "paused_reason"))


def _api(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


# The services ------------------------------------------------------------------------------------


def test_agent_pause_is_audited_with_who_and_why(org, mark):
    erin = org["erin"]
    control = controls.agent_pause(by=erin, reason="  phishing wave  ")
    control.refresh_from_db()
    assert (control.paused, control.reason, control.changed_by_id) == (True, "phishing wave", erin.pk)
    assert control.changed_at is not None
    assert _events(mark) == [
        {
            "code": "agent.paused",
            "actor_kind": "user",
            "actor_id": erin.pk,
            "actor_label": "erin",
            "data": {
                "reason": "phishing wave",
                "before": {"paused": False, "reason": ""},
                "after": {"paused": True, "reason": "phishing wave"},
            },
        }
    ]


def test_agent_resume_is_audited_with_who_and_why(org, mark):
    controls.agent_pause(by=org["erin"], reason="phishing wave")
    controls.agent_resume(by=org["frank"], reason="mail filter fixed")
    assert _agent_state() == (False, "mail filter fixed", org["frank"].pk)
    events = _events(mark)
    assert [e["code"] for e in events] == ["agent.paused", "agent.resumed"]
    assert events[1] == {
        "code": "agent.resumed",
        "actor_kind": "user",
        "actor_id": org["frank"].pk,
        "actor_label": "frank",
        "data": {
            "reason": "mail filter fixed",
            "before": {"paused": True, "reason": "phishing wave"},
            "after": {"paused": False, "reason": "mail filter fixed"},
        },
    }


def test_action_pause_and_resume_are_audited(org, mark):
    gwen = org["gwen"]
    controls.action_pause(code="install_software", by=gwen, reason="licence audit")
    assert CatalogAction.objects.get(code="install_software").paused_reason == "licence audit"
    controls.action_resume(code="install_software", by=gwen, reason="audit done")
    assert _action_states()[1] == ("install_software", False, "")
    assert _events(mark) == [
        {
            "code": "action.paused",
            "actor_kind": "user",
            "actor_id": gwen.pk,
            "actor_label": "gwen",
            "data": {
                "action": "install_software",
                "reason": "licence audit",
                "before": {"paused": False, "paused_reason": ""},
                "after": {"paused": True, "paused_reason": "licence audit"},
            },
        },
        {
            "code": "action.resumed",
            "actor_kind": "user",
            "actor_id": gwen.pk,
            "actor_label": "gwen",
            "data": {
                "action": "install_software",
                "reason": "audit done",
                "before": {"paused": True, "paused_reason": "licence audit"},
                "after": {"paused": False, "paused_reason": ""},
            },
        },
    ]


def test_system_pause_is_recorded_as_the_system(org, mark):
    controls.system_pause(reason="anomaly: 40 grants in 5 minutes", code="grant_group_access")
    controls.system_pause(reason="anomaly: error rate 60%")
    assert _agent_state() == (True, "anomaly: error rate 60%", None)
    events = _events(mark)
    assert [(e["code"], e["actor_kind"], e["actor_id"], e["actor_label"]) for e in events] == [
        ("action.paused", "system", None, "system"),
        ("agent.paused", "system", None, "system"),
    ]
    assert events[0]["data"]["reason"] == "anomaly: 40 grants in 5 minutes"


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
@pytest.mark.parametrize(
    "toggle",
    [
        lambda by, reason: controls.agent_pause(by=by, reason=reason),
        lambda by, reason: controls.agent_resume(by=by, reason=reason),
        lambda by, reason: controls.action_pause(code="reset_mfa", by=by, reason=reason),
        lambda by, reason: controls.action_resume(code="reset_mfa", by=by, reason=reason),
    ],
    ids=["agent_pause", "agent_resume", "action_pause", "action_resume"],
)
def test_a_blank_reason_is_refused_and_nothing_changes(org, mark, toggle, reason):
    actions = _action_states()
    with pytest.raises(controls.ControlError, match="A reason is required") as error:
        toggle(org["erin"], reason)
    assert error.value.field == "reason"
    assert _agent_state() is None
    assert _action_states() == actions
    assert _events(mark) == []


def test_system_pause_needs_a_reason_too(org, mark):
    with pytest.raises(controls.ControlError, match="A reason is required"):
        controls.system_pause(reason=" ")
    assert (_agent_state(), _events(mark)) == (None, [])


@pytest.mark.parametrize("username", ["alice", "ivan"])
def test_only_managers_may_toggle_in_the_services(org, mark, username):
    actions = _action_states()
    with pytest.raises(PermissionDenied):
        controls.agent_pause(by=org[username], reason="I think it is broken")
    with pytest.raises(PermissionDenied):
        controls.action_pause(code="reset_password", by=org[username], reason="I think it is broken")
    assert (_agent_state(), _action_states(), _events(mark)) == (None, actions, [])


def test_an_unknown_action_is_refused(org, mark):
    with pytest.raises(controls.ControlError, match="'fly' is not in the catalog") as error:
        controls.action_pause(code="fly", by=org["erin"], reason="why not")
    assert error.value.field == "action"
    assert _events(mark) == []


@pytest.mark.parametrize(
    "username,allowed", [("erin", True), ("judy", True), ("henry", True), ("ivan", False), ("alice", False)]
)
def test_can_control_agent_means_managers(org, username, allowed):
    assert controls.can_control_agent(org[username]) is allowed


def test_an_inactive_manager_cannot_control_the_agent(org):
    erin = org["erin"]
    erin.is_active = False
    assert controls.can_control_agent(erin) is False


# decide() honours the switch ---------------------------------------------------------------------


def test_a_paused_agent_makes_decide_escalate_with_agent_paused(org):
    proposal = Proposal(action="reset_password", suggested_queue="accounts-access", confidence=0.99)
    controls.agent_pause(by=org["erin"], reason="phishing wave")
    decision = decide(proposal, org["alice"])
    assert (decision.outcome, decision.rule_ids, decision.reason, decision.queue) == (
        Outcome.ESCALATE,
        ("agent_paused",),
        "agent paused: phishing wave",
        "accounts-access",
    )
    controls.agent_resume(by=org["erin"], reason="over")
    assert decide(proposal, org["alice"]).outcome == Outcome.EXECUTE


def test_a_paused_action_makes_decide_escalate_with_action_paused(org):
    controls.action_pause(code="unlock_account", by=org["judy"], reason="connector outage")
    decision = decide(Proposal(action="unlock_account"), org["bob"])
    assert (decision.outcome, decision.rule_ids, decision.reason, decision.queue) == (
        Outcome.ESCALATE,
        ("action_paused",),
        "unlock_account is paused: connector outage",
        "accounts-access",
    )
    assert decide(Proposal(action="reset_password"), org["bob"]).outcome == Outcome.EXECUTE


# The API -----------------------------------------------------------------------------------------


def test_managers_read_the_kill_switch_state(org):
    controls.action_pause(code="reset_mfa", by=org["erin"], reason="vendor incident")
    response = _api(org["erin"]).get(KILL_SWITCH)
    assert response.status_code == 200
    assert response.json() == {
        "agent": {"paused": False, "reason": "", "changed_by": None, "changed_at": None},
        "actions": [
            {
                "code": code,
                "enabled": True,
                "paused": code == "reset_mfa",
                "reason": "vendor incident" if code == "reset_mfa" else "",
            }
            for code in ACTION_CODES
        ],
    }


def test_a_manager_pauses_and_resumes_the_agent_over_the_api(org, mark):
    erin = org["erin"]
    response = _api(erin).post(PAUSE, {"reason": "phishing wave"}, format="json")
    assert response.status_code == 200
    agent = response.json()["agent"]
    assert (agent["paused"], agent["reason"], agent["changed_by"]) == (True, "phishing wave", "erin")
    assert _agent_state() == (True, "phishing wave", erin.pk)

    response = _api(erin).post(RESUME, {"reason": "filter fixed"}, format="json")
    assert response.status_code == 200
    assert response.json()["agent"]["paused"] is False
    assert [(e["code"], e["actor_id"], e["data"]["reason"]) for e in _events(mark)] == [
        ("agent.paused", erin.pk, "phishing wave"),
        ("agent.resumed", erin.pk, "filter fixed"),
    ]


def test_a_manager_pauses_one_action_over_the_api(org, mark):
    response = _api(org["judy"]).post(
        PAUSE, {"reason": "connector outage", "action": "unlock_account"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["agent"]["paused"] is False
    assert [a for a in response.json()["actions"] if a["paused"]] == [
        {"code": "unlock_account", "enabled": True, "paused": True, "reason": "connector outage"}
    ]
    assert [(e["code"], e["actor_label"], e["data"]["action"]) for e in _events(mark)] == [
        ("action.paused", "judy", "unlock_account")
    ]
    response = _api(org["judy"]).post(RESUME, {"reason": "back", "action": "unlock_account"}, format="json")
    assert response.status_code == 200
    assert _action_states()[4] == ("unlock_account", False, "")


@pytest.mark.parametrize("username", ["alice", "ivan"])
@pytest.mark.parametrize(
    "method,path,body",
    [
        ("get", KILL_SWITCH, None),
        ("post", PAUSE, {"reason": "because"}),
        ("post", RESUME, {"reason": "because"}),
        ("post", PAUSE, {"reason": "because", "action": "reset_password"}),
    ],
)
def test_non_managers_get_403_on_the_api_and_nothing_changes(org, mark, username, method, path, body):
    controls.action_pause(code="reset_password", by=org["erin"], reason="before the test")
    mark = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    actions = _action_states()
    response = getattr(_api(org[username]), method)(path, body, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only managers may read or change the kill switch."}
    assert (_agent_state(), _action_states(), _events(mark)) == (None, actions, [])


@pytest.mark.parametrize("method,path", [("get", KILL_SWITCH), ("post", PAUSE), ("post", RESUME)])
def test_anonymous_calls_get_401_and_nothing_changes(org, mark, method, path):
    actions = _action_states()
    response = getattr(_api(), method)(path, {"reason": "because"}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert (_agent_state(), _action_states(), _events(mark)) == (None, actions, [])


@pytest.mark.parametrize(
    "body,errors",
    [
        ({}, {"reason": ["A reason is required."]}),
        ({"reason": "   "}, {"reason": ["A reason is required."]}),
        ({"reason": "x" * 501}, {"reason": ["Ensure this field has no more than 500 characters."]}),
        ({"reason": "ok", "action": "fly"}, {"action": ["'fly' is not in the catalog."]}),
    ],
    ids=["missing", "blank", "too-long", "unknown-action"],
)
def test_api_validation_errors_name_the_field_and_change_nothing(org, mark, body, errors):
    actions = _action_states()
    response = _api(org["erin"]).post(PAUSE, body, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert (_agent_state(), _action_states(), _events(mark)) == (None, actions, [])


# The admin: kill switch ----------------------------------------------------------------------------


def test_a_manager_pauses_the_agent_and_an_action_in_the_admin(org, mark, client):
    client.force_login(org["erin"])
    page = client.get(reverse("admin:governance_agentcontrol_changelist"))
    assert page.status_code == 200
    assert "Pause the agent" in page.text and "Running" in page.text

    response = client.post(reverse("admin:governance_killswitch_pause"), {"reason": "phishing wave"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:governance_agentcontrol_changelist")
    response = client.post(
        reverse("admin:governance_killswitch_pause"), {"reason": "vendor incident", "action": "reset_mfa"}
    )
    assert response.status_code == 302
    assert _agent_state() == (True, "phishing wave", org["erin"].pk)
    assert CatalogAction.objects.get(code="reset_mfa").paused is True
    assert [(e["code"], e["actor_label"], e["data"]["reason"]) for e in _events(mark)] == [
        ("agent.paused", "erin", "phishing wave"),
        ("action.paused", "erin", "vendor incident"),
    ]
    page = client.get(reverse("admin:governance_agentcontrol_changelist"))
    assert "Resume the agent" in page.text and "phishing wave" in page.text


def test_a_blank_reason_in_the_admin_changes_nothing(org, mark, client):
    client.force_login(org["erin"])
    response = client.post(reverse("admin:governance_killswitch_pause"), {"reason": "  "}, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["reason: This field is required."]
    assert (_agent_state(), _events(mark)) == (None, [])


def test_service_desk_staff_see_the_kill_switch_but_cannot_toggle_it(org, mark, client):
    client.force_login(org["ivan"])
    page = client.get(reverse("admin:governance_agentcontrol_changelist"))
    assert page.status_code == 200
    assert "Only managers may pause or resume the agent." in page.text
    assert "Pause the agent" not in page.text
    actions = _action_states()
    for name, body in [("pause", {"reason": "x"}), ("resume", {"reason": "x", "action": "reset_mfa"})]:
        assert client.post(reverse(f"admin:governance_killswitch_{name}"), body).status_code == 403
    assert (_agent_state(), _action_states(), _events(mark)) == (None, actions, [])


def test_employees_are_sent_to_the_admin_login(org, mark, client):
    client.force_login(org["alice"])
    response = client.post(reverse("admin:governance_killswitch_pause"), {"reason": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert (_agent_state(), _events(mark)) == (None, [])


# The admin: catalog edits --------------------------------------------------------------------------


def _action_form(action: CatalogAction, **overrides) -> dict:
    data = {
        "description": action.description,
        "example_requests": json.dumps(action.example_requests),
        "parameters": json.dumps(action.parameters),
        "risk_rules": action.risk_rules,
        "hourly_budget": action.hourly_budget,
        "autonomous_max_cost_usd": action.autonomous_max_cost_usd or "",
        "lead_approval_above_usd": action.lead_approval_above_usd or "",
        "queue": action.queue_id,
        "_save": "Save",
    }
    if action.enabled:
        data["enabled"] = "on"
    if action.requires_staff_approval:
        data["requires_staff_approval"] = "on"
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_a_catalog_edit_in_the_admin_is_audited_with_before_and_after(org, mark, client):
    action = CatalogAction.objects.get(code="install_software")
    client.force_login(org["frank"])
    url = reverse("admin:governance_catalogaction_change", args=[action.pk])
    general = Queue.objects.team("general")
    response = client.post(
        url, _action_form(action, hourly_budget=5, enabled=None, queue=general.pk, paused="on")
    )
    assert response.status_code == 302
    action.refresh_from_db()
    assert (action.hourly_budget, action.enabled, action.queue_id, action.paused) == (
        5,
        False,
        general.pk,
        False,
    )
    assert _events(mark) == [
        {
            "code": "catalog.changed",
            "actor_kind": "user",
            "actor_id": org["frank"].pk,
            "actor_label": "frank",
            "data": {
                "model": "governance.catalogaction",
                "object": "install_software",
                "object_id": action.pk,
                "operation": "change",
                "before": {"enabled": True, "hourly_budget": 30, "queue": "software"},
                "after": {"enabled": False, "hourly_budget": 5, "queue": "general"},
            },
        }
    ]


def test_an_unchanged_catalog_save_records_nothing(org, mark, client):
    action = CatalogAction.objects.get(code="reset_password")
    client.force_login(org["frank"])
    response = client.post(
        reverse("admin:governance_catalogaction_change", args=[action.pk]), _action_form(action)
    )
    assert response.status_code == 302
    assert _events(mark) == []


def test_service_desk_staff_cannot_edit_the_catalog_in_the_admin(org, mark, client):
    action = CatalogAction.objects.get(code="install_software")
    client.force_login(org["ivan"])
    url = reverse("admin:governance_catalogaction_change", args=[action.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.text
    assert client.post(url, _action_form(action, hourly_budget=999)).status_code == 403
    assert client.post(reverse("admin:governance_directorygroup_add"), {"name": "x"}).status_code == 403
    group = DirectoryGroup.objects.get(name="vpn-users")
    delete = reverse("admin:governance_directorygroup_delete", args=[group.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    action.refresh_from_db()
    assert action.hourly_budget == 30
    assert DirectoryGroup.objects.filter(name__in=["x", "vpn-users"]).count() == 1
    assert _events(mark) == []


def test_group_add_change_and_delete_in_the_admin_are_audited(org, mark, client):
    client.force_login(org["gwen"])
    form = {
        "name": "design-tools",
        "description": "Design tool licences",
        "tier": "standard",
        "standard_for_departments": "[]",
        "aliases": '["figma"]',
    }
    assert client.post(reverse("admin:governance_directorygroup_add"), form).status_code == 302
    group = DirectoryGroup.objects.get(name="design-tools")
    change = reverse("admin:governance_directorygroup_change", args=[group.pk])
    assert client.post(change, {**form, "tier": "sensitive"}).status_code == 302
    delete = reverse("admin:governance_directorygroup_delete", args=[group.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not DirectoryGroup.objects.filter(name="design-tools").exists()
    events = _events(mark)
    assert [(e["code"], e["actor_label"]) for e in events] == [("catalog.changed", "gwen")] * 3
    after_add = {
        "name": "design-tools",
        "description": "Design tool licences",
        "tier": "standard",
        "standard_for_departments": [],
        "aliases": ["figma"],
    }
    common = {"model": "governance.directorygroup", "object": "design-tools", "object_id": group.pk}
    assert [e["data"] for e in events] == [
        {**common, "operation": "add", "before": {}, "after": after_add},
        {**common, "operation": "change", "before": {"tier": "standard"}, "after": {"tier": "sensitive"}},
        {**common, "operation": "delete", "before": {**after_add, "tier": "sensitive"}, "after": {}},
    ]


def test_software_price_change_in_the_admin_is_audited(org, mark, client):
    tableau = Software.objects.get(name="Tableau Desktop")
    client.force_login(org["judy"])
    response = client.post(
        reverse("admin:governance_software_change", args=[tableau.pk]),
        {"name": "Tableau Desktop", "yearly_cost_usd": "1800", "aliases": '["tableau"]'},
    )
    assert response.status_code == 302
    assert [e["data"]["before"] | {"after": e["data"]["after"]} for e in _events(mark)] == [
        {"yearly_cost_usd": 900, "after": {"yearly_cost_usd": 1800}}
    ]


def test_a_privileged_group_cannot_be_made_standard_for_a_department(org, mark, client):
    group = DirectoryGroup.objects.get(name="domain-admins")
    client.force_login(org["erin"])
    response = client.post(
        reverse("admin:governance_directorygroup_change", args=[group.pk]),
        {
            "name": "domain-admins",
            "description": group.description,
            "tier": "privileged",
            "standard_for_departments": '["IT"]',
            "aliases": json.dumps(group.aliases),
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "standard_for_departments": [
            "A privileged group is never standard for a department; leave this list empty."
        ]
    }
    group.refresh_from_db()
    assert group.standard_for_departments == []
    assert _events(mark) == []
    with pytest.raises(controls.ControlError):
        controls.catalog_change_record(
            by=org["erin"], instance=group, operation="change", changes={"standard_for_departments": ["IT"]}
        )


def test_catalog_actions_cannot_be_deleted_or_paused_as_an_edit(org, mark, client):
    action = CatalogAction.objects.get(code="reset_password")
    with pytest.raises(ValueError, match="kill switch"):
        controls.catalog_action_update(action=action, by=org["erin"], changes={"paused": True})
    with pytest.raises(ValueError, match="disable the action instead"):
        controls.catalog_change_record(by=org["erin"], instance=action, operation="delete")
    client.force_login(org["erin"])
    delete = reverse("admin:governance_catalogaction_delete", args=[action.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert CatalogAction.objects.filter(code="reset_password", paused=False).exists()
    assert _events(mark) == []


def test_staff_browse_the_governance_admin_read_only(org, client):
    client.force_login(org["ivan"])
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    for name in [
        "catalogaction",
        "directorygroup",
        "software",
        "directoryaccount",
        "directorymembership",
        "softwareassignment",
        "execution",
        "approvalrequest",
        "resettoken",
    ]:
        assert client.get(reverse(f"admin:governance_{name}_changelist")).status_code == 200, name
    assert client.get(reverse("admin:core_auditevent_changelist")).status_code == 200  # the audit trail: core
    assert client.get(reverse("admin:governance_directoryaccount_add")).status_code == 403
