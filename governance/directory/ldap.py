"""The LDAP connector (OpenLDAP with the ppolicy overlay, or any server with the same schema).

Layout it expects, with ``<people>`` and ``<groups>`` the two base DNs it is given:

- accounts are ``uid=<username>,<people>`` (``inetOrgPerson``); the registered email is ``mail``;
- groups are ``cn=<name>,<groups>`` (``groupOfNames``) with the members' DNs in ``member``;
- a software entitlement is the group ``cn=software-<slug>,<groups>``, the slug being the catalog
  name lowercased with every run of characters other than a-z and 0-9 replaced by one ``-``
  ("Visual Studio Code" -> ``software-visual-studio-code``, "7-Zip" -> ``software-7-zip``). The
  group is created on first assignment. ``member`` is required by ``groupOfNames``, so a new group
  also holds the bind DN as a placeholder member, which nothing reports as a person;
- a lockout is ppolicy's ``pwdAccountLockedTime`` (present = locked); unlocking deletes it;
- an MFA reset is membership of ``cn=mfa-reset-pending,<groups>``: LDAP has no standard attribute
  for it, and the MFA system removes the member once the person has enrolled again;
- a password is set with the Password Modify extended operation (RFC 3062), so the server hashes it
  by its own policy; ppolicy then also clears ``pwdAccountLockedTime``.

One bound connection per operation: nothing to go stale between tickets, and every failure becomes
either ``TransientDirectoryError`` (unreachable, timed out, busy: retry) or ``DirectoryError``.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

from ldap3 import AUTO_BIND_NO_TLS, BASE, LEVEL, MODIFY_ADD, MODIFY_DELETE, NONE, Connection, Server
from ldap3.core.exceptions import (
    LDAPBindError,
    LDAPCommunicationError,
    LDAPException,
    LDAPMaximumRetriesError,
    LDAPResponseTimeoutError,
    LDAPServerPoolExhaustedError,
)
from ldap3.protocol.formatters.formatters import format_time
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from governance.directory.base import AccountState, DirectoryError, TransientDirectoryError
from governance.models import Software

MFA_RESET_GROUP = "mfa-reset-pending"
SOFTWARE_GROUP_PREFIX = "software-"

# LDAPCommunicationError covers LDAPSocketOpenError (refused, unresolvable), LDAPSocketReceiveError
# (receive timeout), LDAPSocketSendError and LDAPSessionTerminatedByServerError.
_TRANSIENT_EXCEPTIONS = (
    LDAPCommunicationError,
    LDAPResponseTimeoutError,
    LDAPMaximumRetriesError,
    LDAPServerPoolExhaustedError,
)
# LDAP result codes worth retrying: timeLimitExceeded, busy, unavailable.
_TRANSIENT_RESULTS = frozenset({3, 51, 52})
_NO_SUCH_ATTRIBUTE = 16
_VALUE_EXISTS = 20
_NO_SUCH_OBJECT = 32
_ALREADY_EXISTS = 68


def software_group_cn(name: str) -> str:
    """The entitlement group's cn for a catalog software name (see the module docstring)."""
    return SOFTWARE_GROUP_PREFIX + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class LdapDirectory:
    """The ``DirectoryConnector`` for an LDAP server; the bind DN needs write access to both bases."""

    name = "ldap"

    def __init__(
        self,
        *,
        uri: str,
        bind_dn: str,
        bind_password: str,
        people_dn: str,
        groups_dn: str,
        connect_timeout: float = 5.0,
        receive_timeout: int = 10,
    ) -> None:
        """``receive_timeout`` is whole seconds: ldap3 packs it into SO_RCVTIMEO as an integer."""
        self.uri = uri
        self.bind_dn = bind_dn
        self._bind_password = bind_password
        self.people_dn = people_dn
        self.groups_dn = groups_dn
        self.connect_timeout = connect_timeout
        self.receive_timeout = receive_timeout

    def read_state(self, username: str) -> AccountState:
        """An unknown user is a state (``exists=False``), not an error: the executor records it as-is."""
        with self._connection() as conn:
            attributes = self._user_attributes(conn, username, ["pwdAccountLockedTime", "pwdChangedTime"])
            if attributes is None:
                return AccountState(username=username, exists=False)
            group_names = self._group_names(conn, self._user_dn(username))
        # A software group with no catalog entry (the catalog lost it) is reported by its cn, not hidden.
        catalog = {software_group_cn(name): name for name in Software.objects.values_list("name", flat=True)}
        software = {catalog.get(cn, cn) for cn in group_names if cn.startswith(SOFTWARE_GROUP_PREFIX)}
        groups = {
            cn for cn in group_names if cn != MFA_RESET_GROUP and not cn.startswith(SOFTWARE_GROUP_PREFIX)
        }
        return AccountState(
            username=username,
            exists=True,
            # Present means locked; with a pwdLockoutDuration, an expired lock shows until the next bind.
            locked=bool(attributes.get("pwdAccountLockedTime")),
            mfa_reset_pending=MFA_RESET_GROUP in group_names,
            groups=frozenset(groups),
            software=frozenset(software),
            password_changed_at=_timestamp(attributes.get("pwdChangedTime")),
        )

    def unlock_account(self, username: str) -> None:
        with self._connection() as conn:
            user_dn = self._require_user(conn, username)
            ok = conn.modify(user_dn, {"pwdAccountLockedTime": [(MODIFY_DELETE, [])]})
            if not ok and conn.result["result"] == _NO_SUCH_ATTRIBUTE:
                return  # not locked: nothing to do
            self._check(conn, ok, f"unlocking {username!r}")

    def reset_mfa(self, username: str) -> None:
        with self._connection() as conn:
            user_dn = self._require_user(conn, username)
            if not self._add_member(conn, MFA_RESET_GROUP, user_dn):
                raise DirectoryError(
                    f"the LDAP group cn={MFA_RESET_GROUP},{self.groups_dn} is missing; create it first"
                )

    def add_to_group(self, username: str, group: str) -> None:
        """The MFA flag and software groups have their own operations, so a group grant cannot set them."""
        if group == MFA_RESET_GROUP or group.startswith(SOFTWARE_GROUP_PREFIX):
            raise DirectoryError(f"{group!r} is managed by the connector, not granted as a group")
        with self._connection() as conn:
            user_dn = self._require_user(conn, username)
            if not self._add_member(conn, group, user_dn):
                raise DirectoryError(f"no LDAP group {group!r} under {self.groups_dn}")

    def assign_software(self, username: str, software: str) -> None:
        if not Software.objects.filter(name=software).exists():
            raise DirectoryError(f"no software named {software!r} in the catalog")
        cn = software_group_cn(software)
        with self._connection() as conn:
            user_dn = self._require_user(conn, username)
            if not self._add_member(conn, cn, user_dn):
                self._create_software_group(conn, cn, software, user_dn)

    def set_password(self, username: str, new_password: str) -> None:
        """Called only from the one-time reset link's page, by the account holder."""
        if not new_password:
            # Password Modify without a new password asks the server to generate one: never wanted here.
            raise DirectoryError("a new password is required")
        with self._connection() as conn:
            user_dn = self._require_user(conn, username)
            conn.extend.standard.modify_password(user_dn, new_password=new_password)
            self._check(
                conn, conn.result["result"] == 0, f"setting the password of {username!r}", new_password
            )

    def registered_email(self, username: str) -> str:
        with self._connection() as conn:
            attributes = self._user_attributes(conn, username, ["mail"])
        if attributes is None:
            raise DirectoryError(f"no LDAP account {username!r}")
        if not attributes.get("mail"):
            raise DirectoryError(f"LDAP account {username!r} has no mail")
        return str(attributes["mail"][0])

    # Connection and error handling.

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A bound connection, closed afterwards; ldap3's exceptions come out as ``DirectoryError``s."""
        try:
            # A new Server each time: ldap3 remembers an address that failed as unusable for a while,
            # which would outlast the outage.
            server = Server(self.uri, connect_timeout=self.connect_timeout, get_info=NONE)
            conn = Connection(
                server,
                user=self.bind_dn,
                password=self._bind_password,
                auto_bind=AUTO_BIND_NO_TLS,
                receive_timeout=self.receive_timeout,
                raise_exceptions=False,
            )
            # Not ``with conn``: ldap3's context manager restores the state it found on entry, and an
            # auto-bound connection is already bound then, so it would never unbind.
            try:
                yield conn
            finally:
                with suppress(LDAPException):
                    conn.unbind()
        except _TRANSIENT_EXCEPTIONS as exc:
            raise TransientDirectoryError(self._redact(f"LDAP server {self.uri} unavailable: {exc}")) from exc
        except LDAPBindError as exc:
            raise DirectoryError(self._redact(f"LDAP bind as {self.bind_dn} refused: {exc}")) from exc
        except LDAPException as exc:
            raise DirectoryError(self._redact(f"LDAP error {type(exc).__name__}: {exc}")) from exc

    def _check(self, conn: Connection, ok: bool, doing: str, *secrets: str) -> None:
        """Raise for a failed operation; busy or unavailable servers are worth a retry."""
        if ok:
            return
        result = conn.result
        message = f"{doing}: {result['description']}" + (
            f" ({result['message']})" if result["message"] else ""
        )
        error = TransientDirectoryError if result["result"] in _TRANSIENT_RESULTS else DirectoryError
        raise error(self._redact(message, *secrets))

    def _redact(self, message: str, *secrets: str) -> str:
        """Belt and braces: no server or library message may carry a password to staff or logs."""
        for secret in (self._bind_password, *secrets):
            if secret:
                message = message.replace(secret, "***")
        return message[:400]

    # Entries.

    def _user_dn(self, username: str) -> str:
        return f"uid={escape_rdn(username)},{self.people_dn}"

    def _group_dn(self, cn: str) -> str:
        return f"cn={escape_rdn(cn)},{self.groups_dn}"

    def _user_attributes(self, conn: Connection, username: str, names: list[str]) -> dict[str, Any] | None:
        """The account's attributes (operational ones only when named), or None if there is none."""
        ok = conn.search(self._user_dn(username), "(objectClass=inetOrgPerson)", BASE, attributes=names)
        if not ok and conn.result["result"] == _NO_SUCH_OBJECT:
            return None
        self._check(conn, ok or conn.result["result"] == 0, f"reading account {username!r}")
        entries = [entry for entry in conn.response if entry["type"] == "searchResEntry"]
        return dict(entries[0]["attributes"]) if entries else None

    def _require_user(self, conn: Connection, username: str) -> str:
        """groupOfNames does not check that a member exists, so every write checks first."""
        if self._user_attributes(conn, username, ["uid"]) is None:
            raise DirectoryError(f"no LDAP account {username!r}")
        return self._user_dn(username)

    def _group_names(self, conn: Connection, member_dn: str) -> set[str]:
        query = f"(&(objectClass=groupOfNames)(member={escape_filter_chars(member_dn)}))"
        ok = conn.search(self.groups_dn, query, LEVEL, attributes=["cn"])
        self._check(conn, ok or conn.result["result"] == 0, f"reading the groups of {member_dn}")
        return {_group_cn(entry) for entry in conn.response if entry["type"] == "searchResEntry"}

    def _add_member(self, conn: Connection, cn: str, member_dn: str) -> bool:
        """Add a member, already being one included; False when the group does not exist."""
        ok = conn.modify(self._group_dn(cn), {"member": [(MODIFY_ADD, [member_dn])]})
        code = conn.result["result"]
        if code == _NO_SUCH_OBJECT:
            return False
        self._check(conn, ok or code == _VALUE_EXISTS, f"adding {member_dn} to {cn!r}")
        return True

    def _create_software_group(self, conn: Connection, cn: str, software: str, member_dn: str) -> None:
        attributes = {
            "cn": cn,
            "description": f"Software entitlement: {software}",
            # groupOfNames requires a member; the bind DN holds the group open (see module docstring).
            "member": list(dict.fromkeys([self.bind_dn, member_dn])),
        }
        ok = conn.add(self._group_dn(cn), ["groupOfNames"], attributes)
        if not ok and conn.result["result"] == _ALREADY_EXISTS:
            # Another worker created it in between: add to theirs.
            ok = self._add_member(conn, cn, member_dn)
        self._check(conn, ok, f"creating the software group {cn!r}")


def _group_cn(entry: dict[str, Any]) -> str:
    """A group's name is its RDN value; ``cn`` may hold other names as well."""
    names = [str(name) for name in entry["attributes"]["cn"]]
    prefix = entry["dn"].lower()
    return next((name for name in names if prefix.startswith(f"cn={escape_rdn(name)},".lower())), names[0])


def _timestamp(values: list[Any] | None) -> str | None:
    if not values:
        return None
    value = format_time(values[0])
    return value.isoformat() if isinstance(value, datetime) else str(value)
