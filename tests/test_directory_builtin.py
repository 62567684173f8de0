import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from django.utils import timezone

from governance.demo import demo_catalog_load
from governance.directory import get_connector
from governance.directory.base import AccountState, DirectoryError
from governance.directory.builtin import BuiltinDirectory
from governance.models import DirectoryAccount, DirectoryMembership, SoftwareAssignment

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def directory(db):
    demo_catalog_load()
    return BuiltinDirectory()


def _account(username):
    return DirectoryAccount.objects.get(username=username)


def test_read_state_reports_the_demo_account(directory, django_assert_num_queries):
    with django_assert_num_queries(3):
        state = directory.read_state("bob")
    assert state == AccountState(
        username="bob", exists=True, groups=frozenset({"engineering-repos", "vpn-users"})
    )
    assert state.as_dict() == {
        "exists": True,
        "locked": False,
        "mfa_reset_pending": False,
        "groups": ["engineering-repos", "vpn-users"],
        "software": [],
        "password_changed_at": None,
    }


def test_read_state_of_an_unknown_user_says_it_does_not_exist(directory):
    assert directory.read_state("mallory") == AccountState(username="mallory", exists=False)


def test_unlock_account_clears_the_lockout_and_is_idempotent(directory):
    DirectoryAccount.objects.filter(username="carol").update(locked=True)
    assert directory.read_state("carol").locked is True
    directory.unlock_account("carol")
    assert directory.read_state("carol").locked is False
    directory.unlock_account("carol")
    assert _account("carol").locked is False


def test_reset_mfa_drops_the_enrolment_and_marks_the_reset_pending(directory):
    directory.reset_mfa("alice")
    alice = _account("alice")
    assert (alice.mfa_enrolled, alice.mfa_reset_pending) == (False, True)
    assert directory.read_state("alice").mfa_reset_pending is True


def test_add_to_group_adds_one_membership_and_a_repeat_is_not_an_error(directory):
    directory.add_to_group("alice", "wiki-editors")
    directory.add_to_group("alice", "wiki-editors")
    assert directory.read_state("alice").groups == frozenset({"wiki-editors"})
    assert DirectoryMembership.objects.filter(account__username="alice").count() == 1


def test_assign_software_adds_one_assignment_and_a_repeat_is_not_an_error(directory):
    directory.assign_software("dave", "Visual Studio Code")
    directory.assign_software("dave", "Visual Studio Code")
    assert directory.read_state("dave").software == frozenset({"Visual Studio Code"})
    assert SoftwareAssignment.objects.filter(account__username="dave").count() == 1


def test_set_password_records_the_change_and_unlocks_without_storing_a_password(directory):
    DirectoryAccount.objects.filter(username="erin").update(locked=True)
    before = timezone.now()
    directory.set_password("erin", "Fresh-Pw-42")
    erin = _account("erin")
    assert erin.locked is False
    assert before <= erin.password_changed_at <= timezone.now()
    state = directory.read_state("erin")
    assert datetime.fromisoformat(state.password_changed_at) == erin.password_changed_at
    stored = DirectoryAccount.objects.filter(username="erin").values().get()
    assert "Fresh-Pw-42" not in repr(stored)


def test_set_password_refuses_an_empty_password_and_changes_nothing(directory):
    with pytest.raises(DirectoryError, match="a new password is required"):
        directory.set_password("erin", "")
    assert _account("erin").password_changed_at is None


def test_registered_email_is_the_accounts_email(directory):
    assert directory.registered_email("alice") == "alice@example.com"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: d.unlock_account("mallory"), "no directory account named 'mallory'"),
        (lambda d: d.reset_mfa("mallory"), "no directory account named 'mallory'"),
        (lambda d: d.add_to_group("mallory", "vpn-users"), "no directory account named 'mallory'"),
        (lambda d: d.assign_software("mallory", "Zoom"), "no directory account named 'mallory'"),
        (lambda d: d.set_password("mallory", "Fresh-Pw-42"), "no directory account named 'mallory'"),
        (lambda d: d.registered_email("mallory"), "no directory account named 'mallory'"),
        (lambda d: d.add_to_group("alice", "root-access"), "no directory group named 'root-access'"),
        (lambda d: d.assign_software("alice", "Photoshop"), "no software named 'Photoshop' in the catalog"),
    ],
)
def test_unknown_user_group_or_software_is_refused_and_nothing_changes(directory, call, message):
    accounts = list(DirectoryAccount.objects.values())
    memberships = DirectoryMembership.objects.count()
    with pytest.raises(DirectoryError) as refused:
        call(directory)
    assert str(refused.value) == message
    assert list(DirectoryAccount.objects.values()) == accounts
    assert DirectoryMembership.objects.count() == memberships
    assert SoftwareAssignment.objects.count() == 0


def test_get_connector_defaults_to_the_builtin_directory(settings):
    assert settings.DIRECTORY_BACKEND == "builtin"
    connector = get_connector()
    assert isinstance(connector, BuiltinDirectory)
    assert connector.name == "builtin"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"DIRECTORY_BACKEND": "active-directory"},
            "DIRECTORY_BACKEND='active-directory': expected builtin or ldap",
        ),
        (
            {"DIRECTORY_BACKEND": "ldap", "LDAP_BIND_PASSWORD": ""},
            "DIRECTORY_BACKEND=ldap needs LDAP_BIND_PASSWORD",
        ),
    ],
)
def test_settings_refuse_an_unusable_directory_backend(variables, message):
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=ROOT,
        env={**os.environ, **variables},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert f"ImproperlyConfiguredEnv: {message}" in result.stderr
