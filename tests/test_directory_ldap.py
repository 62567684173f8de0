"""The LDAP connector against a real slapd (tests/ldap_server.py), proved by reading the server back."""

import os
import signal
import time
from datetime import datetime, timedelta

import ldap3
import pytest
from django.utils import timezone
from ldap3 import BASE, MODIFY_REPLACE

from governance.demo import MEMBERSHIPS, demo_catalog_load
from governance.directory import get_connector
from governance.directory.base import AccountState, DirectoryError, TransientDirectoryError
from governance.directory.ldap import LdapDirectory, software_group_cn
from servicedesk.demo_org import PEOPLE
from tests import ldap_server
from tests.ldap_server import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    GROUPS_DN,
    PEOPLE_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    group_dn,
    password_for,
    user_dn,
)

LOCKED_UNTIL_ADMIN_UNLOCKS = "000001010000Z"


def _require_slapd():
    """CI must run these tests, so there a missing slapd fails them instead of skipping them."""
    if not ldap_server.SLAPD.exists():
        reason = f"{ldap_server.SLAPD} is not installed (Debian/Ubuntu package: slapd)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)


@pytest.fixture
def slapd():
    """A fresh server with the demo tree for each test (about 0.1 s)."""
    _require_slapd()
    with ldap_server.running_slapd(ldap_server.demo_ldif()) as server:
        yield server


@pytest.fixture
def directory(slapd, db):
    demo_catalog_load()
    return _connector(slapd.uri)


@pytest.fixture
def admin(slapd):
    """A separate connection to read what the connector really wrote."""
    conn = ldap3.Connection(slapd.uri, ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)
    yield conn
    conn.unbind()


def _connector(uri, *, password=SERVICE_PASSWORD, timeout=2):
    return LdapDirectory(
        uri=uri,
        bind_dn=SERVICE_DN,
        bind_password=password,
        people_dn=PEOPLE_DN,
        groups_dn=GROUPS_DN,
        connect_timeout=timeout,
        receive_timeout=timeout,
    )


def _values(admin, dn, attribute):
    """Raw values of one attribute (operational ones must be named); None if the entry is missing."""
    if not admin.search(dn, "(objectClass=*)", BASE, attributes=[attribute]):
        assert admin.result["description"] == "noSuchObject"
        return None
    return [value.decode() for value in admin.entries[0].entry_raw_attributes.get(attribute, [])]


def _members(admin, cn):
    return set(_values(admin, group_dn(cn), "member")) - {SERVICE_DN}


def _can_bind(slapd, username, password):
    conn = ldap3.Connection(slapd.uri, user_dn(username), password)
    try:
        return conn.bind()
    finally:
        conn.unbind()


def _all_members(admin):
    admin.search(GROUPS_DN, "(objectClass=groupOfNames)", attributes=["member"])
    return {entry.entry_dn: set(entry.member.values) for entry in admin.entries}


def test_demo_tree_holds_the_demo_organisation(admin):
    assert [(uid, given, sn, dept, manager) for uid, given, sn, dept, manager in ldap_server.PEOPLE] == [
        (p.username, p.first_name, p.last_name, p.department, p.manager) for p in PEOPLE
    ]
    admin.search(PEOPLE_DN, "(objectClass=inetOrgPerson)", attributes=["mail"])
    assert sorted(entry.mail.value for entry in admin.entries) == [
        f"{p.username}@example.com" for p in PEOPLE
    ]
    for username, groups in MEMBERSHIPS.items():
        assert all(user_dn(username) in _members(admin, group) for group in groups)
    assert sum(len(_members(admin, cn)) for cn in ldap_server.GROUPS) == sum(map(len, MEMBERSHIPS.values()))


def test_read_state_before_and_after_changes(directory, admin):
    assert directory.read_state("bob") == AccountState(
        username="bob", exists=True, groups=frozenset({"engineering-repos", "vpn-users"})
    )
    directory.add_to_group("bob", "wiki-editors")
    directory.assign_software("bob", "Visual Studio Code")
    directory.reset_mfa("bob")
    assert admin.modify(
        user_dn("bob"), {"pwdAccountLockedTime": [(MODIFY_REPLACE, [LOCKED_UNTIL_ADMIN_UNLOCKS])]}
    )
    assert directory.read_state("bob") == AccountState(
        username="bob",
        exists=True,
        locked=True,
        mfa_reset_pending=True,
        groups=frozenset({"engineering-repos", "vpn-users", "wiki-editors"}),
        software=frozenset({"Visual Studio Code"}),
    )


def test_read_state_of_an_unknown_user_says_it_does_not_exist(directory):
    assert directory.read_state("mallory") == AccountState(username="mallory", exists=False)


def test_add_to_group_writes_the_member_attribute_once(directory, admin):
    assert _members(admin, "wiki-editors") == set()
    directory.add_to_group("alice", "wiki-editors")
    directory.add_to_group("alice", "wiki-editors")  # already a member: not an error
    assert _values(admin, group_dn("wiki-editors"), "member") == [SERVICE_DN, user_dn("alice")]


def test_unlock_deletes_the_lockout_so_the_password_binds_again(slapd, directory, admin):
    for _ in range(3):  # pwdMaxFailure of the demo policy: ppolicy itself locks the account
        assert not _can_bind(slapd, "carol", "wrong password")
    assert len(_values(admin, user_dn("carol"), "pwdAccountLockedTime")) == 1
    assert not _can_bind(slapd, "carol", password_for("carol"))
    assert directory.read_state("carol").locked is True

    directory.unlock_account("carol")

    assert _values(admin, user_dn("carol"), "pwdAccountLockedTime") == []
    assert directory.read_state("carol").locked is False
    assert _can_bind(slapd, "carol", password_for("carol"))
    directory.unlock_account("carol")  # not locked: nothing to do, not an error


def test_set_password_uses_the_password_modify_operation(slapd, directory, admin):
    assert directory.read_state("erin").password_changed_at is None
    before = timezone.now().replace(microsecond=0)

    directory.set_password("erin", "Fresh-Pw-42")

    assert _can_bind(slapd, "erin", "Fresh-Pw-42")
    assert not _can_bind(slapd, "erin", password_for("erin"))
    assert _values(admin, user_dn("erin"), "userPassword")[0].startswith("{SSHA}")  # hashed by the server
    changed_at = datetime.fromisoformat(directory.read_state("erin").password_changed_at)
    assert before <= changed_at <= timezone.now() + timedelta(seconds=1)


def test_set_password_also_clears_a_lockout(slapd, directory, admin):
    assert admin.modify(
        user_dn("dave"), {"pwdAccountLockedTime": [(MODIFY_REPLACE, [LOCKED_UNTIL_ADMIN_UNLOCKS])]}
    )
    directory.set_password("dave", "Fresh-Pw-42")
    assert _values(admin, user_dn("dave"), "pwdAccountLockedTime") == []
    assert _can_bind(slapd, "dave", "Fresh-Pw-42")


def test_a_refused_password_is_an_error_that_never_repeats_it(slapd, directory, admin):
    policy = {"pwdMinLength": [(MODIFY_REPLACE, ["30"])], "pwdCheckQuality": [(MODIFY_REPLACE, ["2"])]}
    assert admin.modify(ldap_server.POLICY_DN, policy), admin.result
    with pytest.raises(DirectoryError) as refused:
        directory.set_password("erin", "Short-Pw-1")
    assert not isinstance(refused.value, TransientDirectoryError)
    assert str(refused.value).startswith("setting the password of 'erin': constraintViolation")
    assert "Short-Pw-1" not in str(refused.value)
    assert _can_bind(slapd, "erin", password_for("erin"))


def test_assign_software_creates_the_software_group_then_reuses_it(directory, admin):
    dn = group_dn("software-visual-studio-code")
    assert _values(admin, dn, "member") is None

    directory.assign_software("bob", "Visual Studio Code")
    assert _values(admin, dn, "objectClass") == ["groupOfNames"]
    assert _values(admin, dn, "member") == [SERVICE_DN, user_dn("bob")]

    directory.assign_software("dave", "Visual Studio Code")
    directory.assign_software("bob", "Visual Studio Code")
    assert _values(admin, dn, "member") == [SERVICE_DN, user_dn("bob"), user_dn("dave")]
    assert directory.read_state("dave").software == frozenset({"Visual Studio Code"})
    assert directory.read_state("dave").groups == frozenset({"engineering-repos"})


def test_reset_mfa_adds_the_user_to_mfa_reset_pending(directory, admin):
    directory.reset_mfa("alice")
    directory.reset_mfa("alice")
    assert _members(admin, "mfa-reset-pending") == {user_dn("alice")}
    state = directory.read_state("alice")
    assert (state.mfa_reset_pending, state.groups) == (True, frozenset())


def test_registered_email_is_the_mail_attribute(directory):
    assert directory.registered_email("judy") == "judy@example.com"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: d.unlock_account("mallory"), "no LDAP account 'mallory'"),
        (lambda d: d.reset_mfa("mallory"), "no LDAP account 'mallory'"),
        (lambda d: d.add_to_group("mallory", "vpn-users"), "no LDAP account 'mallory'"),
        (lambda d: d.assign_software("mallory", "Zoom"), "no LDAP account 'mallory'"),
        (lambda d: d.set_password("mallory", "Fresh-Pw-42"), "no LDAP account 'mallory'"),
        (lambda d: d.registered_email("mallory"), "no LDAP account 'mallory'"),
        (lambda d: d.add_to_group("bob", "root-access"), f"no LDAP group 'root-access' under {GROUPS_DN}"),
        (lambda d: d.assign_software("bob", "Photoshop"), "no software named 'Photoshop' in the catalog"),
        (
            lambda d: d.add_to_group("bob", "mfa-reset-pending"),
            "'mfa-reset-pending' is managed by the connector, not granted as a group",
        ),
    ],
)
def test_unknown_user_group_or_software_is_refused_and_nothing_changes(directory, admin, call, message):
    memberships = _all_members(admin)
    with pytest.raises(DirectoryError) as refused:
        call(directory)
    assert not isinstance(refused.value, TransientDirectoryError)
    assert str(refused.value) == message
    assert _all_members(admin) == memberships


def test_a_stopped_server_is_a_transient_error(slapd, directory):
    slapd.stop()
    for call in (
        lambda: directory.read_state("bob"),
        lambda: directory.add_to_group("bob", "wiki-editors"),
        lambda: directory.set_password("bob", "Fresh-Pw-42"),
    ):
        with pytest.raises(TransientDirectoryError, match="unavailable") as down:
            call()
        assert SERVICE_PASSWORD not in str(down.value)


def test_a_hung_server_times_out_as_a_transient_error(slapd, db):
    directory = _connector(slapd.uri, timeout=1)
    os.kill(slapd.process.pid, signal.SIGSTOP)  # the kernel still accepts, but nothing answers
    try:
        started = time.monotonic()
        with pytest.raises(TransientDirectoryError, match="timed out"):
            directory.read_state("bob")
        assert time.monotonic() - started < 5
    finally:
        os.kill(slapd.process.pid, signal.SIGCONT)


def test_a_refused_bind_is_a_permanent_error_without_the_password(slapd, db):
    directory = _connector(slapd.uri, password="Wrong-Admin-Secret")
    with pytest.raises(DirectoryError) as refused:
        directory.read_state("bob")
    assert not isinstance(refused.value, TransientDirectoryError)
    assert (
        str(refused.value)
        == f"LDAP bind as {SERVICE_DN} refused: automatic bind not successful - invalidCredentials"
    )


@pytest.mark.parametrize(
    ("name", "cn"),
    [
        ("Visual Studio Code", "software-visual-studio-code"),
        ("7-Zip", "software-7-zip"),
        ("Adobe Acrobat Pro", "software-adobe-acrobat-pro"),
        ("AutoCAD", "software-autocad"),
        ("C++ Build Tools (x64)", "software-c-build-tools-x64"),
    ],
)
def test_software_group_names_are_lowercase_slugs(name, cn):
    assert software_group_cn(name) == cn


def test_get_connector_builds_the_ldap_connector_from_settings(settings):
    settings.DIRECTORY_BACKEND = "ldap"
    settings.LDAP_URI = "ldap://ldap.example.com"
    settings.LDAP_BIND_DN = "cn=servicedesk,dc=corp,dc=example"
    settings.LDAP_BIND_PASSWORD = "bind-secret"
    settings.LDAP_BASE_DN = "dc=corp,dc=example"
    settings.LDAP_TIMEOUT_SECONDS = 7
    connector = get_connector()
    assert isinstance(connector, LdapDirectory)
    assert (connector.name, connector.uri, connector.bind_dn) == (
        "ldap",
        "ldap://ldap.example.com",
        "cn=servicedesk,dc=corp,dc=example",
    )
    assert (connector.people_dn, connector.groups_dn) == (
        "ou=people,dc=corp,dc=example",
        "ou=groups,dc=corp,dc=example",
    )
    assert (connector.connect_timeout, connector.receive_timeout) == (7, 7)
    assert "bind-secret" not in repr(connector)


def test_the_test_server_leaves_no_process_or_files_behind():
    _require_slapd()
    with ldap_server.running_slapd(ldap_server.demo_ldif()) as server:
        assert server.workdir.is_dir()
    assert server.process.poll() is not None  # ended (its exit status on SIGTERM varies under load)
    assert not server.workdir.exists()
