"""Fuzzing the API from its own OpenAPI schema (schemathesis, in-process over WSGI).

Every operation the schema at /api/schema/ documents is called with generated requests, valid and
invalid, as an employee with a token; the governance API also as a manager. Checks: never a server
error, and every response conforms to the schema (documented status code, content type, body).

Bounded for CI: a fixed seed, derandomized generation, at most ``MAX_EXAMPLES`` examples per
operation and phase, no example database. The rate limits are raised for the run (the throttles
have their own tests in tests/test_security.py), so no response is a 429.
"""

from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from config.wsgi import application
from governance.demo import demo_catalog_load
from governance.dispatch import proposal_dispatch
from governance.models import ApprovalStep
from governance.types import Proposal
from servicedesk.demo_org import demo_org_load
from servicedesk.models import Ticket, TicketStatus
from servicedesk.throttles import TicketCreateThrottle
from tests.factories import TicketFactory

MAX_EXAMPLES = 30
SEED = 20261124

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "suppress-health-check": ["all"],
        "cache": {"enabled": False},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
        },
    }
)


@pytest.fixture
def world(db, monkeypatch):
    for throttle in (AnonRateThrottle, UserRateThrottle, TicketCreateThrottle):
        monkeypatch.setattr(throttle, "rate", "100000/minute", raising=False)
    demo_org_load(password="demo")
    demo_catalog_load()
    users = {u.username: u for u in User.objects.all()}
    alice = users["alice"]
    # Objects to find: her tickets in several states, one of bob's (a 404 for her), and an approval
    # of hers waiting for frank, her manager.
    now = timezone.now()
    TicketFactory(requester=alice, subject="resolved", status=TicketStatus.RESOLVED, resolved_at=now)
    TicketFactory(requester=alice, subject="escalated", status=TicketStatus.ESCALATED)
    TicketFactory(requester=alice, subject="asked", status=TicketStatus.AWAITING_REQUESTER)
    TicketFactory(requester=users["bob"], subject="bob's")
    waiting = TicketFactory(requester=alice, subject="tableau", status=TicketStatus.TRIAGING)
    proposal = Proposal(action="install_software", params={"software": "Tableau Desktop"})
    proposal_dispatch(ticket_id=waiting.pk, proposal=proposal)
    return users


@pytest.fixture
def in_process(db):
    """Requests go through Django's WSGI handler in the test's own transaction: as Django's test
    client does, the handler must not close the database connection at the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(world, in_process):
    loaded = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)
    known = [*Ticket.objects.values_list("pk", flat=True), *ApprovalStep.objects.values_list("pk", flat=True)]

    @loaded.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
        """Half the generated ids are ids that exist (hers, bob's, an approval step): random
        integers alone would almost never reach past the 404."""
        if not path_parameters:
            return st.just(path_parameters)
        existing = st.fixed_dictionaries({key: st.sampled_from(known) for key in path_parameters})
        return st.one_of(st.just(path_parameters), existing)

    return loaded


def _token(user: Any) -> dict[str, str]:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request):
    """schemathesis 4.32.5's lazy schemas read and rename ``node._nodeid``, which pytest 9 no longer
    has (it is ``_id`` now); the attribute only changes how each operation is reported."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_as_an_employee(case, world):
    case.call_and_validate(headers=_token(world["alice"]))


@schema.include(path_regex="^/api/governance/").parametrize()
def test_the_governance_api_as_a_manager(case, world):
    case.call_and_validate(headers=_token(world["frank"]))


def test_the_fuzzing_reached_the_database(world):
    """A guard against a run that only ever hits 400s: the fixture's tickets are there to find."""
    assert Ticket.objects.filter(requester=world["alice"]).count() == 4
    assert ApprovalStep.objects.get().approver == world["frank"]
