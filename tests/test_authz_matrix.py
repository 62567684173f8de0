"""The authorization matrix: every page and API endpoint x every kind of user -> the expected status,
no data of others in any response, and nothing changed by any refused request.

Complete by construction: ``test_every_route_is_in_the_matrix`` walks the URL resolver and fails on
a route that is not in ``ROUTES`` (or, for the admin, whose model is not in ``ADMIN_MODELS``), so a
new route cannot ship untested: add one line to ``ROUTES``.

The users (the demo organisation): ``employee`` alice owns every object in the URLs; ``other`` is bob,
another employee (so each "another employee's object" case is bob asking for alice's); ``staff`` ivan
(service desk); ``lead`` a service-desk lead who is not a manager; ``manager`` frank, alice's line
manager and so the approver of her requests. Distinctive markers sit in alice's and bob's tickets,
replies and an internal note; every response is searched for the markers its reader may not see.

Every method a route does not list is tried too (POST, PUT, PATCH, DELETE): it must not be accepted
(API: 401/403/404/405) and, like every refused request, must change nothing: each table (users
without ``last_login``, tickets, comments, audit events, approvals, executions, the kill switch...)
is compared before and after.
"""

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from governance import dispatch
from governance.demo import demo_catalog_load
from governance.models import (
    AgentControl,
    ApprovalStep,
    DirectoryAccount,
    DirectoryGroup,
    DirectoryMembership,
    ResetToken,
    Software,
    SoftwareAssignment,
)
from governance.types import Proposal
from insights.models import Alert, Baseline, DailyRollup, DriftCheck, Review
from servicedesk.demo_org import demo_org_load
from servicedesk.models import (
    AgentCorrection,
    AuthorKind,
    Comment,
    Notification,
    Queue,
    Role,
    RoutingChange,
    SlaBreach,
    Ticket,
    TicketStatus,
    Visibility,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ANON, EMPLOYEE, OTHER, STAFF, LEAD, MANAGER = "anonymous", "employee", "other", "staff", "lead", "manager"
ROLES = (ANON, EMPLOYEE, OTHER, STAFF, LEAD, MANAGER)
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")

# --- markers: who may read what -------------------------------------------------------------------

SUBJECT_A, TEXT_A, REPLY_A = "zq7-subject-alice", "zq7-text-alice", "zq7-reply-alice"
SUBJECT_B, TEXT_B, REPLY_B = "zq7-subject-bob", "zq7-text-bob", "zq7-reply-bob"
NOTE_A = "zq7-internal-note"  # staff's internal note on alice's ticket: never shown to her
MARKERS = (SUBJECT_A, TEXT_A, REPLY_A, SUBJECT_B, TEXT_B, REPLY_B, NOTE_A)
# Written into every subject, description, reply and note: no HTML page may show it live.
HOSTILE = ' <script>alert("zq7")</script><img src=x onerror="alert(7)"> ![x](https://evil.example/zq7.png)'
LIVE_HOSTILE = ('<script>alert("zq7")', "<img src=x", 'onerror="alert(7)"', 'src="https://evil.example')
INERT_HOSTILE = "&lt;script&gt;alert(&quot;zq7&quot;)&lt;/script&gt;"
MAY_READ = {
    ANON: set(),
    EMPLOYEE: {SUBJECT_A, TEXT_A, REPLY_A},
    OTHER: {SUBJECT_B, TEXT_B, REPLY_B},
    STAFF: set(MARKERS),  # the service desk works every queue
    LEAD: set(MARKERS),
    # Managers decide approvals and oversee the agent (the approvals inbox and the governance admin
    # name tickets by reference and subject); never what people wrote, nor internal notes.
    MANAGER: {SUBJECT_A, SUBJECT_B},
}


# --- expectations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    status: int
    to: str = ""  # a redirect's target starts with this
    unchanged: bool | None = None  # None: unchanged iff refused (4xx or a redirect to a sign-in page)

    def must_not_change(self) -> bool:
        if self.unchanged is not None:
            return self.unchanged
        return self.status >= 400 or self.to in ("/accounts/login/", "/admin/login/")


LOGIN = Expect(302, to="/accounts/login/")
ADMIN_LOGIN = Expect(302, to="/admin/login/")
ADMIN_STRANGERS = {"anonymous": ADMIN_LOGIN, "employee": ADMIN_LOGIN, "other": ADMIN_LOGIN}  # not is_staff
SKIP = None  # allowed and changes things; its effect is tested elsewhere (named at the use)
Access = dict[str, Expect | None]


def access(default: Expect | int | None, **roles: Expect | int | None) -> Access:
    """One expectation per role: ``default`` for every role not named (``anonymous`` included)."""
    unknown = set(roles) - set(ROLES)
    assert not unknown, unknown

    def wrap(value: Expect | int | None) -> Expect | None:
        return Expect(value) if isinstance(value, int) else value

    return {role: wrap(roles.get(role, default)) for role in ROLES}


SIGNED_IN = access(200, anonymous=LOGIN)
OWNER = access(404, anonymous=LOGIN, employee=200)
STAFF_ONLY = access(403, anonymous=LOGIN, staff=200, lead=200)
MANAGERS_ONLY = access(403, anonymous=LOGIN, manager=200)
API_SIGNED_IN = access(200, anonymous=401)
API_OWNER = access(404, anonymous=401, employee=200)
API_MANAGERS = access(403, anonymous=401, manager=200)
EVERYONE = access(200)
POST_ONLY_PAGE = access(405, anonymous=LOGIN)  # GET on a POST-only page behind login_required
POST_ONLY_STAFF = access(403, anonymous=LOGIN, staff=405, lead=405)
POST_ONLY_API = access(405, anonymous=401)
API_GET_MANAGERS = access(403, anonymous=401, manager=405)


# --- the world ---------------------------------------------------------------------------------


@dataclass
class World:
    users: dict[str, User]
    ticket: Ticket  # alice's, resolved: she may reply, confirm or reopen it
    approval_ticket: Ticket  # alice's, awaiting frank's approval
    bob_ticket: Ticket
    step: ApprovalStep
    notification: Notification
    alert: Alert
    review: Review
    reset_token: str
    extra: dict[str, Any] = field(default_factory=dict)


def _ticket(user: User, subject: str, text: str, status: str, queue: str) -> Ticket:
    now = timezone.now()
    return Ticket.objects.create(
        requester=user,
        subject=subject,
        description=text,
        status=status,
        queue=Queue.objects.team(queue),
        resolved_at=now if status == TicketStatus.RESOLVED else None,
        status_changed_at=now,
    )


@pytest.fixture
def world(db, django_capture_on_commit_callbacks) -> World:
    demo_org_load(password="demo")
    demo_catalog_load()
    users = {u.username: u for u in User.objects.all()}
    lead = UserFactory(username="lena", roles=[Role.EMPLOYEE, Role.SERVICE_DESK, Role.SERVICE_DESK_LEAD])
    lead.is_staff = True
    lead.save(update_fields=["is_staff"])
    alice, bob, ivan = users["alice"], users["bob"], users["ivan"]
    ticket = _ticket(
        alice,
        f"Printer {SUBJECT_A}{HOSTILE}",
        f"It jams {TEXT_A}{HOSTILE}",
        TicketStatus.RESOLVED,
        "hardware",
    )
    Comment.objects.create(
        ticket=ticket,
        author=alice,
        author_kind=AuthorKind.REQUESTER,
        visibility=Visibility.PUBLIC,
        body=REPLY_A + HOSTILE,
    )
    Comment.objects.create(
        ticket=ticket,
        author=ivan,
        author_kind=AuthorKind.STAFF,
        visibility=Visibility.INTERNAL,
        body=NOTE_A + HOSTILE,
    )
    bob_ticket = _ticket(
        bob, f"Laptop {SUBJECT_B}{HOSTILE}", f"Slow {TEXT_B}{HOSTILE}", TicketStatus.ESCALATED, "hardware"
    )
    Comment.objects.create(
        ticket=bob_ticket,
        author=bob,
        author_kind=AuthorKind.REQUESTER,
        visibility=Visibility.PUBLIC,
        body=REPLY_B + HOSTILE,
    )
    approval_ticket = _ticket(
        alice,
        f"Tableau {SUBJECT_A}{HOSTILE}",
        f"Dashboards {TEXT_A}{HOSTILE}",
        TicketStatus.TRIAGING,
        "software",
    )
    with django_capture_on_commit_callbacks(execute=False):
        dispatch.proposal_dispatch(
            ticket_id=approval_ticket.pk,
            proposal=Proposal(
                action="install_software", params={"software": "Tableau Desktop"}, source="agent"
            ),
        )
        zoom = _ticket(
            bob, f"Zoom {SUBJECT_B}{HOSTILE}", f"Calls {TEXT_B}{HOSTILE}", TicketStatus.TRIAGING, "software"
        )
        dispatch.proposal_dispatch(  # an execution, left pending (the executor never runs)
            ticket_id=zoom.pk, proposal=Proposal(action="install_software", params={"software": "Zoom"})
        )
    step = ApprovalStep.objects.get(request__ticket=approval_ticket)
    assert step.approver == users["frank"]
    notification = Notification.objects.create(
        recipient=alice, ticket=ticket, code="ticket.replied", text="Reply", url=f"/tickets/{ticket.pk}/"
    )
    Notification.objects.create(recipient=bob, ticket=bob_ticket, code="ticket.replied", text="x", url="/")
    alert = Alert.objects.create(key="matrix", kind="anomaly", rule="grant_cap", message="m")
    baseline = Baseline.objects.create(
        name="b", source="manual", monthly_volume=1, cycle_time_hours=1, error_rate=0,
        staff_hours_monthly=1, escalation_rate=0,
    )  # fmt: skip
    review = Review.objects.create(
        kind="pilot", name="p", baseline=baseline, period_start=date(2026, 1, 1), period_end=date(2026, 1, 31)
    )
    token = "matrix-reset-token-0123456789abcdef"
    ResetToken.objects.create(
        username="alice",
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
        channel="alice@example.com",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    return World(
        users={
            EMPLOYEE: alice,
            OTHER: bob,
            STAFF: ivan,
            LEAD: lead,
            MANAGER: users["frank"],
        },
        ticket=ticket,
        approval_ticket=approval_ticket,
        bob_ticket=bob_ticket,
        step=step,
        notification=notification,
        alert=alert,
        review=review,
        reset_token=token,
        extra=_extra_objects(users),
    )


def _admin_rows(users: dict[str, User]) -> None:
    """One row of each model the admin shows to staff, so its object pages can be opened."""
    now = timezone.now()
    AgentControl.objects.get_or_create(pk=1)
    DailyRollup.objects.create(day=now.date(), queue="hardware", resolver="staff", tickets=1)
    DriftCheck.objects.create(
        dimension="queue", window_start=now, window_end=now, reference_start=now, reference_end=now,
        psi=0.0, chi2=0.0, p_value=1.0, drifted=False,
    )  # fmt: skip
    bob, ticket = users["bob"], Ticket.objects.filter(requester__username="bob").first()
    Token.objects.create(user=bob)
    seen = {"user_agent": "test", "ip_address": "10.0.0.1", "username": "bob", "http_accept": "*/*"}
    AccessAttempt.objects.create(**seen, path_info="/", get_data="", post_data="", failures_since_start=1)
    AccessLog.objects.create(**seen, path_info="/")
    AccessFailureLog.objects.create(**seen, path_info="/")
    SlaBreach.objects.create(
        ticket=ticket, kind="first_response", due_at=now, detected_at=now, priority_before="normal",
        priority_after="high",
    )  # fmt: skip
    RoutingChange.objects.create(ticket=ticket, to_queue=Queue.objects.team("software"), created_at=now)
    AgentCorrection.objects.create(ticket=ticket, wrong=False, created_at=now)
    account = DirectoryAccount.objects.get(username="bob")
    SoftwareAssignment.objects.get_or_create(account=account, software=Software.objects.get(name="Zoom"))
    if not DirectoryMembership.objects.exists():
        DirectoryMembership.objects.create(
            account=account, group=DirectoryGroup.objects.get(name="vpn-users")
        )


def _extra_objects(users: dict[str, User]) -> dict[str, Any]:
    """Objects of features that may come and go (the backtest), created only where they exist."""
    _admin_rows(users)
    extra: dict[str, Any] = {}
    try:
        run_model = apps.get_model("insights", "BacktestRun")
    except LookupError:
        return extra
    extra["backtest_run"] = run_model.objects.create(
        created_by=users["frank"], period_start=date(2026, 1, 1), period_end=date(2026, 1, 31)
    )
    return extra


# --- routes --------------------------------------------------------------------------------------

Kwargs = Callable[[World], dict[str, Any]]
Data = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """One way to call a route: its URL arguments and, per HTTP method it accepts, the expectation
    per role. Methods it does not list must be refused and change nothing."""

    kwargs: Kwargs = lambda w: {}
    get: Access | None = None
    post: Access | None = None
    put: Access | None = None
    patch: Access | None = None
    delete: Access | None = None
    data: Data = lambda w: {}
    query: str = ""
    api: bool = False
    label: str = ""
    other_methods: bool = True  # also try the unlisted methods (the admin knows only GET and POST)

    def methods(self) -> dict[str, Access | None]:
        every = {
            "GET": self.get,
            "POST": self.post,
            "PUT": self.put,
            "PATCH": self.patch,
            "DELETE": self.delete,
        }
        return every if self.other_methods else {m: a for m, a in every.items() if a is not None}


def own(w: World) -> dict[str, Any]:
    return {"ticket_id": w.ticket.pk}


def own_pk(w: World) -> dict[str, Any]:
    return {"pk": w.ticket.pk}


def staff_action(data: Data = lambda w: {}) -> list[Case]:
    """A staff workspace action: POST only; the staff member always comes back to the ticket."""
    return [Case(own, get=POST_ONLY_STAFF, post=access(403, anonymous=LOGIN, staff=302, lead=302), data=data)]


ROUTES: dict[str, list[Case]] = {
    # employee pages
    "servicedesk:home": [Case(get=access(302, anonymous=LOGIN))],
    "servicedesk:ticket_list": [Case(get=SIGNED_IN)],
    "servicedesk:ticket_create": [
        Case(
            get=SIGNED_IN,
            post=access(302, anonymous=LOGIN),
            data=lambda w: {"subject": "s", "description": "d"},
        )
    ],
    "servicedesk:ticket_detail": [
        Case(own, get=OWNER, post=access(404, anonymous=LOGIN, employee=302), data=lambda w: {"body": "more"})
    ],
    "servicedesk:ticket_confirm": [
        Case(own, get=POST_ONLY_PAGE, post=access(404, anonymous=LOGIN, employee=302))
    ],
    "servicedesk:ticket_reopen": [
        Case(
            own,
            get=POST_ONLY_PAGE,
            post=access(404, anonymous=LOGIN, employee=302),
            data=lambda w: {"reason": "r"},
        )
    ],
    "servicedesk:notifications": [Case(get=SIGNED_IN, post=access(302, anonymous=LOGIN))],
    "servicedesk:notification_open": [
        Case(lambda w: {"notification_id": w.notification.pk}, get=access(404, anonymous=LOGIN, employee=302))
    ],
    # the tickets API
    "api:api-root": [Case(get=API_SIGNED_IN, api=True)],
    "api:ticket-list": [
        Case(
            get=API_SIGNED_IN,
            post=access(201, anonymous=401),
            data=lambda w: {"subject": "s", "description": "d"},
            api=True,
        )
    ],
    "api:ticket-detail": [
        Case(own_pk, get=API_OWNER, api=True),
        Case(lambda w: {"pk": w.ticket.pk, "format": "json"}, get=API_OWNER, api=True, label=".json"),
    ],
    "api:ticket-comments": [
        Case(
            own_pk,
            get=API_OWNER,
            post=access(404, anonymous=401, employee=201),
            data=lambda w: {"body": "b"},
            api=True,
        )
    ],
    "api:ticket-confirm": [
        Case(own_pk, get=POST_ONLY_API, post=access(404, anonymous=401, employee=200), api=True)
    ],
    "api:ticket-reopen": [
        Case(
            own_pk,
            get=POST_ONLY_API,
            post=access(404, anonymous=401, employee=200),
            data=lambda w: {"reason": "r"},
            api=True,
        )
    ],
    "api:token": [
        Case(
            get=access(405),
            post=access(400),
            data=lambda w: {"username": "nobody", "password": "guess"},
            api=True,
        )
    ],
    "api:schema": [Case(get=EVERYONE, api=True)],
    "api:docs": [Case(get=EVERYONE, api=True)],
    # the governance API
    "governance_api:kill-switch": [Case(get=API_MANAGERS, api=True)],
    "governance_api:kill-switch-pause": [
        Case(get=API_GET_MANAGERS, post=API_MANAGERS, data=lambda w: {"reason": "matrix"}, api=True)
    ],
    "governance_api:kill-switch-resume": [
        Case(get=API_GET_MANAGERS, post=API_MANAGERS, data=lambda w: {"reason": "matrix"}, api=True)
    ],
    "governance_api:approvals": [Case(get=API_SIGNED_IN, api=True)],
    "governance_api:approval-decide": [
        Case(
            lambda w: {"step_id": w.step.pk},
            get=POST_ONLY_API,
            post=access(404, anonymous=401, manager=200),
            data=lambda w: {"decision": "reject", "reason": "no"},
            api=True,
        )
    ],
    # governance pages
    "governance:approvals": [
        Case(
            get=SIGNED_IN,
            # Everyone comes back to the inbox; only the approver's decision is recorded.
            post=access(
                Expect(302, to="/governance/approvals/", unchanged=True), anonymous=LOGIN, manager=302
            ),
            data=lambda w: {"step": w.step.pk, "decision": "reject", "reason": "no"},
        )
    ],
    "governance:password_reset": [
        # The emailed link is the credential: whoever holds it may use it, signed in or not.
        Case(lambda w: {"token": w.reset_token}, get=EVERYONE, post=EVERYONE, label="valid link"),
        Case(
            lambda w: {"token": "forged-token"},
            get=access(404),
            post=access(404),
            data=lambda w: {"password": "N3w-pass-phrase!", "confirm": "N3w-pass-phrase!"},
            label="forged link",
        ),
    ],
    "governance:dashboard": [Case(get=MANAGERS_ONLY)],
    "governance:dashboard_reviews": [
        Case(get=MANAGERS_ONLY, post=MANAGERS_ONLY, data=lambda w: {"form": "none"})
    ],
    "governance:dashboard_review": [
        Case(lambda w: {"review_id": w.review.pk}, get=MANAGERS_ONLY),
        Case(lambda w: {"review_id": w.review.pk}, get=MANAGERS_ONLY, query="?format=csv", label="csv"),
    ],
    "governance:dashboard_quarterly": [Case(get=access(403, anonymous=LOGIN, manager=302))],
    "governance:dashboard_monitoring": [Case(get=MANAGERS_ONLY)],
    "governance:dashboard_alert_ack": [
        Case(
            lambda w: {"alert_id": w.alert.pk},
            get=access(405),
            post=access(403, anonymous=LOGIN, manager=302),
        )
    ],
    "governance:dashboard_backtest": [Case(get=MANAGERS_ONLY, post=MANAGERS_ONLY)],
    "governance:dashboard_backtest_run": [
        Case(lambda w: {"run_id": w.extra["backtest_run"].pk}, get=MANAGERS_ONLY),
        Case(
            lambda w: {"run_id": w.extra["backtest_run"].pk},
            get=MANAGERS_ONLY,
            query="?format=csv",
            label="csv",
        ),
    ],
    # the staff workspace
    "staff:home": [Case(get=STAFF_ONLY)],
    "staff:queue": [Case(lambda w: {"slug": "hardware"}, get=STAFF_ONLY)],
    "staff:ticket": [Case(own, get=STAFF_ONLY)],
    "staff:claim": staff_action(),
    "staff:assign": staff_action(lambda w: {"assignee": w.users[STAFF].pk}),
    "staff:comment": staff_action(lambda w: {"body": "b", "visibility": "public"}),
    "staff:priority": staff_action(lambda w: {"priority": "high"}),
    "staff:status": staff_action(lambda w: {"status": "in_progress"}),
    "staff:resolve": staff_action(lambda w: {"message": "done"}),
    "staff:reopen": staff_action(lambda w: {"reason": "again"}),
    "staff:move": staff_action(lambda w: {"queue": "software"}),
    "staff:action": staff_action(lambda w: {"action": "unlock_account"}),
    "staff:correction": staff_action(lambda w: {"verdict": "right"}),
    "staff:metrics": [Case(get=STAFF_ONLY)],
    "staff:corrections_export": [Case(get=STAFF_ONLY)],
    # signing in and out
    "login": [
        Case(
            get=access(302, anonymous=200),
            post=access(302, anonymous=200),  # a wrong password: the form again
            data=lambda w: {"username": "nobody", "password": "guess"},
        )
    ],
    "logout": [Case(get=access(405), post=access(302))],
    # the admin pages that are not a model's (the models' pages: ADMIN_MODELS below)
    "admin:index": [Case(get=access(200, **ADMIN_STRANGERS))],
    "admin:governance_killswitch_pause": [
        Case(
            get=access(405, **ADMIN_STRANGERS),
            post=access(403, **ADMIN_STRANGERS, manager=302),
            data=lambda w: {"reason": "matrix"},
        )
    ],
    "admin:governance_killswitch_resume": [
        Case(
            get=access(405, **ADMIN_STRANGERS),
            post=access(403, **ADMIN_STRANGERS, manager=302),
            data=lambda w: {"reason": "matrix"},
        )
    ],
    "admin:auth_user_password_change": [
        Case(
            lambda w: {"id": w.users[EMPLOYEE].pk},
            get=access(403, **ADMIN_STRANGERS),
            post=access(403, **ADMIN_STRANGERS),
            data=lambda w: {"password1": "Taken-0ver-pass!", "password2": "Taken-0ver-pass!"},
        )
    ],
    "admin:core_auditevent_export": [
        Case(lambda w: {"fmt": "jsonl"}, get=access(200, **ADMIN_STRANGERS), label="jsonl"),
        Case(lambda w: {"fmt": "csv"}, get=access(200, **ADMIN_STRANGERS), label="csv"),
    ],
}

# Admin routes that are Django's own plumbing, not pages of this product.
ADMIN_INTERNALS = {
    "admin:login": "Django's sign-in form (the site's own is /accounts/login/)",
    "admin:logout": "Django's",
    "admin:password_change": "Django's; changes only the signed-in user's own password",
    "admin:password_change_done": "Django's",
    "admin:jsi18n": "a static JavaScript catalogue",
    "admin:autocomplete": "no admin here declares autocomplete fields; Django checks the model's permissions",
    "admin:view_on_site": "no model here has get_absolute_url",
    "admin:app_list": "tested per app label in test_admin_app_lists",
}


# --- the admin's model pages --------------------------------------------------------------------

STAFFISH = (STAFF, LEAD, MANAGER)  # is_staff: may open the admin at all


@dataclass(frozen=True)
class AdminPolicy:
    """What each role may do with one model's admin pages: {view kind: roles allowed}."""

    view: tuple[str, ...] = ()
    add: tuple[str, ...] = ()
    change: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()


PERMISSIONS_ONLY = AdminPolicy()  # Django's model permissions; no role of the product has any
READ_ONLY = AdminPolicy(view=STAFFISH)
MANAGER_EDITS = AdminPolicy(view=STAFFISH, add=(MANAGER,), change=(MANAGER,), delete=(MANAGER,))

ADMIN_MODELS: dict[str, AdminPolicy] = {
    "auth.group": PERMISSIONS_ONLY,
    "auth.user": PERMISSIONS_ONLY,
    "authtoken.tokenproxy": PERMISSIONS_ONLY,
    "axes.accessattempt": PERMISSIONS_ONLY,
    "axes.accesslog": PERMISSIONS_ONLY,
    "axes.accessfailurelog": PERMISSIONS_ONLY,
    "servicedesk.queue": PERMISSIONS_ONLY,
    "servicedesk.profile": PERMISSIONS_ONLY,
    "servicedesk.ticket": PERMISSIONS_ONLY,
    "servicedesk.cannedreply": PERMISSIONS_ONLY,
    "servicedesk.agentcorrection": PERMISSIONS_ONLY,
    "servicedesk.routingchange": PERMISSIONS_ONLY,
    "servicedesk.slabreach": PERMISSIONS_ONLY,
    "governance.catalogaction": AdminPolicy(
        view=STAFFISH, add=(MANAGER,), change=(MANAGER,)
    ),  # never deleted
    "governance.directorygroup": MANAGER_EDITS,
    "governance.software": MANAGER_EDITS,
    "governance.agentcontrol": READ_ONLY,  # its list page is the kill switch (routes above)
    "core.auditevent": READ_ONLY,
    "governance.approvalrequest": READ_ONLY,
    "governance.execution": READ_ONLY,
    "governance.directoryaccount": READ_ONLY,
    "governance.directorymembership": READ_ONLY,
    "governance.softwareassignment": READ_ONLY,
    "governance.resettoken": READ_ONLY,
    "insights.alert": READ_ONLY,
    "insights.driftcheck": READ_ONLY,
    "insights.dailyrollup": READ_ONLY,
    "insights.baseline": READ_ONLY,
    "insights.review": READ_ONLY,
}
ADMIN_VIEWS = ("changelist", "add", "change", "delete", "history")


def _admin_models() -> list[str]:
    return sorted(f"{m._meta.app_label}.{m._meta.model_name}" for m in admin.site._registry)


# --- walking the resolver -----------------------------------------------------------------------


def _walk(patterns: list[URLPattern | URLResolver], namespace: str = "") -> Iterator[tuple[str, str]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(p for p in (namespace, pattern.namespace or "") if p)
            yield from _walk(pattern.url_patterns, inner)
        else:
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name or ""
            yield name, str(pattern.pattern)


def _admin_model_route(name: str) -> tuple[str, str] | None:
    """("app.model", view kind) for an admin route Django generates for a registered model."""
    for key in _admin_models():
        prefix = "admin:" + key.replace(".", "_") + "_"
        if name.startswith(prefix) and name.removeprefix(prefix) in ADMIN_VIEWS:
            return key, name.removeprefix(prefix)
    return None


def test_every_route_is_in_the_matrix():
    missing, unnamed = [], []
    seen = set()
    for name, pattern in _walk(get_resolver().url_patterns):
        if not name:
            # the admin's "<object id>/" redirect per model and its final catch-all are tested below
            if not (pattern == "<path:object_id>/" or pattern == "(?P<url>.*)$"):
                unnamed.append(pattern)
            continue
        seen.add(name)
        if name in ROUTES or name in ADMIN_INTERNALS:
            continue
        if name.startswith("admin:") and _admin_model_route(name):
            continue
        missing.append(name)
    assert not unnamed, f"name these routes and add them to ROUTES: {unnamed}"
    assert not missing, f"add these routes to ROUTES in {__file__}: {sorted(set(missing))}"
    assert not set(_admin_models()) - set(ADMIN_MODELS), "add these models to ADMIN_MODELS"
    stale = (set(ROUTES) | set(ADMIN_INTERNALS)) - seen
    assert not stale, f"these routes no longer exist: {sorted(stale)}"
    assert not set(ADMIN_MODELS) - set(_admin_models()), "these models are no longer in the admin"


# --- running one case --------------------------------------------------------------------------

IGNORED_TABLES = {"django_session", "axes_accessattempt", "axes_accesslog", "axes_accessfailurelog"}


def _snapshot() -> dict[str, str]:
    """A fingerprint of every row of every table the product writes (users without last_login)."""
    tables = {}
    for model in apps.get_models():
        if model._meta.db_table in IGNORED_TABLES or model._meta.proxy:
            continue
        digest = hashlib.sha256()
        for row in model._default_manager.order_by("pk").values():
            row.pop("last_login", None)
            digest.update(json.dumps(row, sort_keys=True, default=str).encode())
        tables[model._meta.db_table] = digest.hexdigest()
    return tables


def _changed(before: dict[str, str]) -> list[str]:
    after = _snapshot()
    return sorted(table for table in after if after[table] != before.get(table))


def _clients(world: World) -> dict[str, Client]:
    clients = {ANON: Client()}
    for role, user in world.users.items():
        clients[role] = Client()
        clients[role].force_login(user)
    return clients


def _call(client: Client, method: str, url: str, data: dict[str, Any], api: bool) -> Any:
    call = getattr(client, method.lower())
    if method == "GET":
        return call(url)
    if api or method != "POST":
        return call(url, json.dumps(data), content_type="application/json")
    return call(url, data)


def _check_response(
    role: str, method: str, url: str, response: Any, expect: Expect | None, api: bool
) -> None:
    where = f"{role} {method} {url}"
    assert response.status_code < 500, where
    if expect is None:  # a method the route does not accept: refused
        if api:
            assert response.status_code in (401, 403, 404, 405), f"{where}: {response.status_code}"
        else:
            if response.status_code == 302 and role == ANON:
                assert response["Location"].startswith(("/accounts/login/", "/admin/login/")), where
            if not url.startswith(("/admin/", "/accounts/")):  # Django's own views answer any method
                # ours: sent to sign in, refused, or the method is not allowed; never served
                assert response.status_code in (302, 403, 404, 405), f"{where}: {response.status_code}"
    else:
        assert response.status_code == expect.status, (
            f"{where}: {response.status_code}, expected {expect.status}"
        )
        if expect.to:
            assert response["Location"].startswith(expect.to), f"{where} -> {response['Location']}"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode(errors="replace")
    leaked = [marker for marker in MARKERS if marker in text and marker not in MAY_READ[role]]
    assert not leaked, f"{where} shows {leaked}"
    if response.get("Content-Type", "").startswith("text/html"):
        live = [payload for payload in LIVE_HOSTILE if payload in text]
        assert not live, f"{where} renders ticket text live: {live}"


def _run(world: World, case: Case, url: str, clients: dict[str, Client] | None = None) -> None:
    """Refused requests first, with one comparison of every table for all of them (replayed one by
    one to name the culprit if anything changed), then the GETs and the allowed requests."""
    clients = clients or _clients(world)
    calls = [
        (method, role, None if table is None else table[role])
        for method, table in case.methods().items()
        for role in ROLES
        if table is None or table[role] is not SKIP
    ]
    refused = [c for c in calls if c[0] != "GET" and (c[2] is None or c[2].must_not_change())]

    def call(method: str, role: str, expect: Expect | None) -> None:
        response = _call(clients[role], method, url, case.data(world), case.api)
        _check_response(role, method, url, response, expect, case.api)

    savepoint = transaction.savepoint()
    before = _snapshot()
    for method, role, expect in refused:
        call(method, role, expect)
    if _changed(before):
        transaction.savepoint_rollback(savepoint)
        for method, role, expect in refused:
            before = _snapshot()
            call(method, role, expect)
            changed = _changed(before)
            assert not changed, f"{role} {method} {url} was refused but changed {changed}"
    for method, role, expect in calls:
        if (method, role, expect) not in refused:
            call(method, role, expect)


def _cases() -> Iterator[Any]:
    for name, cases in ROUTES.items():
        for n, case in enumerate(cases):
            yield pytest.param(name, n, id=f"{name}[{case.label}]" if case.label else name)


@pytest.mark.parametrize(("name", "n"), list(_cases()))
def test_route_access(world, name, n):
    case = ROUTES[name][n]
    _run(world, case, reverse(name, kwargs=case.kwargs(world)) + case.query)


# --- the admin, model by model -----------------------------------------------------------------


def _admin_object(key: str) -> Any:
    model = apps.get_model(key)
    return model._default_manager.order_by("pk").first()


ADMIN_DENIED = access(403, **ADMIN_STRANGERS)


def _admin_access(policy: AdminPolicy, kind: str) -> Access:
    """GET: the list, an object (read-only for viewers) and its history need ``view``."""
    allowed = {"add": policy.add, "delete": policy.delete}.get(kind, policy.view)
    return {role: Expect(200) if role in allowed else expect for role, expect in ADMIN_DENIED.items()}


def _admin_post_access(policy: AdminPolicy, kind: str) -> Access:
    """POST: refused to whoever may not make that change, and nothing changes. The allowed changes
    (managers editing the catalog) are tested with the catalog's audit (tests/test_controls.py).
    A viewer's POST to the list or the history page shows the page again and changes nothing."""
    allowed = {"add": policy.add, "change": policy.change, "delete": policy.delete}.get(kind, ())
    shown = Expect(200, unchanged=True)
    table: Access = {}
    for role, expect in ADMIN_DENIED.items():
        if role in allowed:
            table[role] = SKIP
        elif kind in ("changelist", "history") and role in policy.view:
            table[role] = shown
        else:
            table[role] = expect
    return table


@pytest.mark.parametrize("key", _admin_models())
def test_admin_model_pages(world, key):
    policy = ADMIN_MODELS[key]
    obj = _admin_object(key)
    assert obj is not None, f"create a {key} in the world fixture (_admin_rows): its pages need one"
    object_id = obj.pk
    base = "admin:" + key.replace(".", "_")
    clients = _clients(world)
    for kind in ADMIN_VIEWS:
        args = [] if kind in ("changelist", "add") else [object_id]
        url = reverse(f"{base}_{kind}", args=args)
        if key == "governance.agentcontrol" and kind == "changelist":
            continue  # the kill switch page: its own test below
        case = Case(
            get=_admin_access(policy, kind), post=_admin_post_access(policy, kind), other_methods=False
        )
        _run(world, case, url, clients)
    # "<object id>/" redirects to the change page, for whoever may open the admin
    redirect = access(302, **ADMIN_STRANGERS)
    _run(
        world,
        Case(get=redirect, other_methods=False),
        reverse(f"{base}_changelist") + f"{object_id}/",
        clients,
    )


def test_admin_kill_switch_page(world):
    page = access(200, **ADMIN_STRANGERS)
    _run(world, Case(get=page), reverse("admin:governance_agentcontrol_changelist"))


@pytest.mark.parametrize("app_label", ["auth", "authtoken", "axes", "servicedesk", "governance"])
def test_admin_app_lists(world, app_label):
    may_look = STAFFISH if app_label == "governance" else ()
    expect = {
        role: ADMIN_LOGIN if role in (ANON, EMPLOYEE, OTHER) else Expect(200 if role in may_look else 404)
        for role in ROLES
    }
    _run(world, Case(get=expect), reverse("admin:app_list", args=[app_label]))


def test_admin_catch_all_sends_strangers_to_sign_in(world):
    clients = _clients(world)
    for role in (ANON, EMPLOYEE):
        response = clients[role].get("/admin/no-such-page/")
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), role
    assert clients[STAFF].get("/admin/no-such-page/").status_code == 404


# --- what the listings show ---------------------------------------------------------------------


def test_the_employee_listings_show_only_ones_own(world):
    clients = _clients(world)
    for role, own_markers in ((EMPLOYEE, (SUBJECT_A,)), (OTHER, (SUBJECT_B,))):
        page = clients[role].get("/tickets/").content.decode()
        api = clients[role].get("/api/tickets/").content.decode()
        for text in (page, api):
            assert all(marker in text for marker in own_markers), role
    assert json.loads(clients[OTHER].get("/api/tickets/").content)["count"] == 2  # his two


def test_the_requester_never_sees_the_internal_note(world):
    clients = _clients(world)
    page = clients[EMPLOYEE].get(f"/tickets/{world.ticket.pk}/").content.decode()
    api = clients[EMPLOYEE].get(f"/api/tickets/{world.ticket.pk}/comments/").content.decode()
    assert REPLY_A in page and REPLY_A in api  # her own reply is there: the check can fail
    assert NOTE_A not in page and NOTE_A not in api
    assert NOTE_A in clients[STAFF].get(f"/staff/tickets/{world.ticket.pk}/").content.decode()


def test_only_the_approver_sees_the_approval(world):
    clients = _clients(world)
    for role in (EMPLOYEE, OTHER, STAFF, LEAD, MANAGER):
        steps = json.loads(clients[role].get("/api/governance/approvals/").content)
        assert [s["step"] for s in steps] == ([world.step.pk] if role == MANAGER else []), role


def test_ticket_text_is_shown_inert_on_the_pages_that_show_it(world):
    """Every HTML response above is checked for live markup; here, the pages that do show the
    hostile text show it escaped (so that check is looking at the text, not at its absence)."""
    clients = _clients(world)
    pages = [
        (EMPLOYEE, "/tickets/"),
        (EMPLOYEE, f"/tickets/{world.ticket.pk}/"),
        (STAFF, "/staff/queues/hardware/"),
        (STAFF, f"/staff/tickets/{world.ticket.pk}/"),
        (MANAGER, "/governance/approvals/"),
    ]
    for role, url in pages:
        response = clients[role].get(url)
        text = response.content.decode()
        assert response.status_code == 200, url
        assert INERT_HOSTILE in text, f"{role} {url}: the hostile text is not on the page"
        assert not [payload for payload in LIVE_HOSTILE if payload in text], url
