"""Platform security: CSP without inline scripts, login brute-force lockout, rate limits, check --deploy."""

import os
import re
import secrets
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from servicedesk.models import Ticket
from servicedesk.throttles import TicketCreateThrottle
from tests.conftest import ROOT
from tests.factories import TicketFactory

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)


def _pages(alice, judy):
    ticket = TicketFactory(requester=alice)
    return [
        (None, "/accounts/login/"),
        (alice, "/tickets/"),
        (alice, "/tickets/new/"),
        (alice, f"/tickets/{ticket.pk}/"),
        (alice, "/api/docs/"),
        (judy, "/governance/approvals/"),
        (judy, "/admin/"),
        (judy, "/admin/core/auditevent/"),
    ]


def test_every_page_sends_a_csp_without_inline_scripts_and_has_none(client, alice):
    judy = User.objects.create_user("judy", password="x", is_staff=True, is_superuser=True)
    for user, path in _pages(alice, judy):
        if user:
            client.force_login(user)
        response = client.get(path)
        assert response.status_code == 200, path
        policy = response["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'", path
        assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
        assert not INLINE_SCRIPT.findall(response.content.decode()), f"inline script on {path}"


def _post_login(client, password):
    return client.post(
        "/accounts/login/", {"username": "alice", "password": password}, REMOTE_ADDR="10.9.8.7"
    )


def test_login_is_locked_after_five_wrong_passwords_even_with_the_right_one(client, alice):
    for _ in range(4):
        assert _post_login(client, "wrong").status_code == 200  # the form again, with its error
    locked = _post_login(client, "wrong")
    assert locked.status_code == 429
    assert "Too many sign-in attempts" in locked.content.decode()
    assert _post_login(client, "pw-for-tests").status_code == 429
    assert "_auth_user_id" not in client.session


def test_api_token_endpoint_is_locked_too(alice):
    api = APIClient(REMOTE_ADDR="10.9.8.6")
    for _ in range(5):
        api.post("/api/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    response = api.post("/api/auth/token/", {"username": "alice", "password": "pw-for-tests"}, format="json")
    assert response.status_code in (400, 429)
    assert "token" not in response.json()
    assert Token.objects.count() == 0


def test_a_good_login_resets_the_counter(client, alice):
    for _ in range(3):
        _post_login(client, "wrong")
    assert _post_login(client, "pw-for-tests").status_code == 302
    client.logout()
    for _ in range(3):
        _post_login(client, "wrong")
    assert _post_login(client, "pw-for-tests").status_code == 302


def test_ticket_creation_is_rate_limited_on_the_api_with_a_clear_429(api, monkeypatch):
    monkeypatch.setattr(TicketCreateThrottle, "rate", "2/hour", raising=False)
    for n in range(2):
        assert (
            api.post("/api/tickets/", {"subject": f"s{n}", "description": "d"}, format="json").status_code
            == 201
        )
    refused = api.post("/api/tickets/", {"subject": "s3", "description": "d"}, format="json")
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("Request was throttled. Expected available in")
    assert "Retry-After" in refused
    assert Ticket.objects.count() == 2
    assert api.get("/api/tickets/").status_code == 200  # reading is not limited by the creation budget


def test_ticket_creation_is_rate_limited_on_the_web_form(alice_client, monkeypatch):
    monkeypatch.setattr(TicketCreateThrottle, "rate", "1/hour", raising=False)
    assert alice_client.post("/tickets/new/", {"subject": "a", "description": "b"}).status_code == 302
    refused = alice_client.post("/tickets/new/", {"subject": "c", "description": "d"})
    assert refused.status_code == 429
    assert "You have submitted many tickets in a short time." in refused.content.decode()
    assert list(Ticket.objects.values_list("subject", flat=True)) == ["a"]


def test_api_rate_limit_for_anonymous_callers(anonymous_api, monkeypatch):
    from rest_framework.throttling import AnonRateThrottle

    monkeypatch.setattr(AnonRateThrottle, "rate", "3/minute", raising=False)
    codes = [anonymous_api.get("/api/schema/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_token_endpoint_is_rate_limited_across_usernames(db, monkeypatch):
    from rest_framework.throttling import AnonRateThrottle

    monkeypatch.setattr(AnonRateThrottle, "rate", "3/minute", raising=False)
    api = APIClient(REMOTE_ADDR="10.9.8.5")
    codes = [
        api.post("/api/auth/token/", {"username": f"user{n}", "password": "guess"}, format="json").status_code
        for n in range(4)
    ]
    assert codes == [400, 400, 400, 429]


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECURE_HTTPS": "true",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "desk.example.com",
        "DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
