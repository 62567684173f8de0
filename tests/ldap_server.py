"""A throwaway OpenLDAP server (Debian's slapd 2.5) holding the demo organisation, for tests.

    with running_slapd(demo_ldif()) as server:
        LdapDirectory(uri=server.uri, bind_dn=ADMIN_DN, bind_password=ADMIN_PASSWORD, ...)

Each server has its own temp dir: a cn=config tree loaded with ``slapadd -n0``, an mdb database
seeded offline with ``slapadd``, the ppolicy overlay with a default policy, and slapd's log. It
listens on 127.0.0.1 on a free port and runs as the current user. Standard library only.
"""

import base64
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SBIN = Path(os.environ.get("SLAPD_SBIN", "/usr/sbin"))  # not on PATH for non-root users
SLAPD = SBIN / "slapd"
MODULE_PATH = os.environ.get("SLAPD_MODULE_PATH", "/usr/lib/ldap")
SCHEMA_DIR = Path(os.environ.get("SLAPD_SCHEMA_DIR", "/etc/ldap/schema"))

BASE_DN = "dc=example,dc=com"
ADMIN_DN = f"cn=admin,{BASE_DN}"  # the rootdn: bypasses ACLs and ppolicy, and has no entry
ADMIN_PASSWORD = "admin-secret"
# The account the service desk binds as: may write everything, but, unlike the rootdn, is held to
# the password policy, as a real deployment's service account is.
SERVICE_DN = f"cn=servicedesk,{BASE_DN}"
SERVICE_PASSWORD = "servicedesk-secret"
PEOPLE_DN = f"ou=people,{BASE_DN}"
GROUPS_DN = f"ou=groups,{BASE_DN}"
POLICY_DN = f"cn=default,ou=policies,{BASE_DN}"

# The demo people of docs/demo-org.md: uid, given name, surname, department, manager.
PEOPLE = [
    ("alice", "Alice", "Chen", "Finance", "frank"),
    ("bob", "Bob", "Okafor", "Engineering", "erin"),
    ("carol", "Carol", "Diaz", "Sales", "gwen"),
    ("dave", "Dave", "Kim", "Engineering", "erin"),
    ("erin", "Erin", "Walsh", "Engineering", "henry"),
    ("frank", "Frank", "Moreau", "Finance", "henry"),
    ("gwen", "Gwen", "Park", "Sales", "henry"),
    ("henry", "Henry", "Adams", "Executive", None),
    ("ivan", "Ivan", "Petrov", "IT", "judy"),
    ("judy", "Judy", "Singh", "IT", "henry"),
]
# Group -> starting members, as governance.demo.MEMBERSHIPS. Every group also holds SERVICE_DN as a
# placeholder, because groupOfNames requires a member (the connector does the same).
GROUPS = {
    "vpn-users": ["bob", "erin"],
    "wiki-editors": [],
    "engineering-repos": ["bob", "dave", "erin"],
    "sales-crm": ["carol"],
    "finance-reports": [],
    "payroll-admin": [],
    "domain-admins": ["ivan", "judy"],
    "mfa-reset-pending": [],
}


class SlapdError(RuntimeError):
    """slapadd or slapd failed; the message carries their output."""


def user_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE_DN}"


def group_dn(cn: str) -> str:
    return f"cn={cn},{GROUPS_DN}"


def password_for(uid: str) -> str:
    return f"{uid}-Initial-Pw1"


def _ssha(password: str) -> str:
    """slapadd bypasses ppolicy, so seeded passwords are hashed here as slapd would."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 - {SSHA} is salted SHA-1 by definition
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _entry(dn: str, *attributes: tuple[str, str]) -> str:
    return "\n".join([f"dn: {dn}", *(f"{name}: {value}" for name, value in attributes)]) + "\n"


def _base_ldif() -> str:
    """The suffix, the default password policy (3 failures lock until an admin unlocks), the service
    account and the two branches."""
    return f"""\
dn: {BASE_DN}
objectClass: dcObject
objectClass: organization
dc: example
o: Example Corp

dn: ou=policies,{BASE_DN}
objectClass: organizationalUnit
ou: policies

dn: {POLICY_DN}
objectClass: organizationalRole
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE
pwdMaxFailure: 3
pwdLockoutDuration: 0

dn: {SERVICE_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: servicedesk
userPassword: {_ssha(SERVICE_PASSWORD)}

dn: {PEOPLE_DN}
objectClass: organizationalUnit
ou: people

dn: {GROUPS_DN}
objectClass: organizationalUnit
ou: groups
"""


def demo_ldif() -> str:
    """The base entries, then the demo people and groups."""
    entries = [_base_ldif()]
    for uid, given, surname, department, manager in PEOPLE:
        attributes = [
            ("objectClass", "inetOrgPerson"),
            ("uid", uid),
            ("cn", f"{given} {surname}"),
            ("givenName", given),
            ("sn", surname),
            ("mail", f"{uid}@example.com"),
            ("departmentNumber", department),
            ("userPassword", _ssha(password_for(uid))),
        ]
        if manager:
            attributes.append(("manager", user_dn(manager)))
        entries.append(_entry(user_dn(uid), *attributes))
    for cn, uids in GROUPS.items():
        members = [("member", dn) for dn in [SERVICE_DN, *map(user_dn, uids)]]
        entries.append(_entry(group_dn(cn), ("objectClass", "groupOfNames"), ("cn", cn), *members))
    return "\n".join(entries)


def _config_ldif(workdir: Path) -> str:
    schemas = "\n".join(
        f"include: file://{SCHEMA_DIR / name}.ldif" for name in ("core", "cosine", "inetorgperson")
    )
    return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {workdir}/slapd.pid

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULE_PATH}
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schemas}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {BASE_DN}
olcRootDN: {ADMIN_DN}
olcRootPW: {ADMIN_PASSWORD}
olcDbDirectory: {workdir}/db
olcDbIndex: objectClass,uid,cn,member eq
olcAccess: {{0}}to attrs=userPassword by dn="{SERVICE_DN}" write by self write by anonymous auth by * none
olcAccess: {{1}}to * by dn="{SERVICE_DN}" write by * read

dn: olcOverlay={{0}}ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {{0}}ppolicy
olcPPolicyDefault: {POLICY_DN}
olcPPolicyHashCleartext: TRUE
"""


def _run(args: list[str], stdin: str) -> None:
    result = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SlapdError(f"{' '.join(args)} failed (rc={result.returncode}):\n{result.stderr}{result.stdout}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SlapdServer:
    workdir: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def uri(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        log = self.workdir / "slapd.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def ready(self) -> bool:
        """slapd binds its port before writing its pid file, so our pid in the file plus an open port
        proves the listener is ours and not whoever else took the "free" port meanwhile."""
        with contextlib.suppress(OSError):
            if (self.workdir / "slapd.pid").read_text().strip() == str(self.process.pid):
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
        return False

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 10 s); the data stays until ``running_slapd`` exits. Idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(workdir: Path, timeout: float) -> SlapdServer:
    """Start slapd on a free port; retried when another process took the port in between."""
    for _attempt in range(3):
        with (workdir / "slapd.log").open("w") as log:
            args = [str(SLAPD), "-F", str(workdir / "slapd.d"), "-d", "none"]
            port = _free_port()
            # -d keeps slapd in the foreground and logs errors to stderr ("-d 0" would hide them too).
            process = subprocess.Popen(
                [*args, "-h", f"ldap://127.0.0.1:{port}/"], stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        server = SlapdServer(workdir, port, process)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if server.ready():
                return server
            time.sleep(0.02)
        server.stop()
        if "Address already in use" not in server.log_text():
            raise SlapdError(f"slapd did not start on {server.uri}:\n{server.log_text()}")
    raise SlapdError("slapd found no free port in 3 attempts")


@contextlib.contextmanager
def running_slapd(ldif: str, timeout: float = 5.0) -> Iterator[SlapdServer]:
    """A started server holding ``ldif``; always stopped and its temp dir removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="slapd-"))
    server = None
    try:
        (workdir / "slapd.d").mkdir()
        (workdir / "db").mkdir()
        _run([str(SBIN / "slapadd"), "-n0", "-F", str(workdir / "slapd.d")], _config_ldif(workdir))
        _run([str(SBIN / "slapadd"), "-q", "-F", str(workdir / "slapd.d"), "-b", BASE_DN], ldif)
        server = _start(workdir, timeout)
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
