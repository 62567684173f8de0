"""The LDAP directory down or too slow while the agent acts: the execution is retried with backoff;
if the directory comes back in time the change is made once, otherwise the ticket goes to a person
with the reason and the directory is left as it was. Nothing is ever half-done: what the ticket and
the execution say is what the server holds, read back with a separate admin connection.

A real worker process runs with ``DIRECTORY_BACKEND=ldap`` against a throwaway slapd
(tests/ldap_server.py), ``LDAP_TIMEOUT_SECONDS=1``. "Down" is slapd stopped (connection refused);
"slow" is slapd frozen with SIGSTOP (the kernel still accepts connections, nothing answers, every
call times out). Each fault is cleared either during the retries or only after the last one.
"""

import os
import signal
import subprocess
from collections.abc import Iterator

import ldap3
import pytest
from django.contrib.auth.models import User
from ldap3 import BASE

from core.audit import verify_chain
from core.models import AuditEvent
from governance.demo import demo_catalog_load
from governance.models import Execution, ExecutionStatus
from governance.tasks import EXECUTION_RETRIES
from servicedesk.demo_org import demo_org_load
from servicedesk.models import EscalationReason, Ticket, TicketStatus
from servicedesk.services import ticket_submit
from tests import ldap_server
from tests.fault_tools import FAULTS_SKIP, Worker, new_queue, wait_until
from tests.ldap_server import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    BASE_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    group_dn,
    user_dn,
)

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.django_db(transaction=True), FAULTS_SKIP]

ATTEMPTS = 1 + EXECUTION_RETRIES  # the first run and its retries (2, 4, 8, 16 s apart)


@pytest.fixture
def slapd() -> Iterator[ldap_server.SlapdServer]:
    if not ldap_server.SLAPD.exists():
        reason = f"{ldap_server.SLAPD} is not installed (Debian/Ubuntu package: slapd)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    with ldap_server.running_slapd(ldap_server.demo_ldif()) as server:
        yield server


def _restart(server: ldap_server.SlapdServer) -> None:
    """Start slapd again on the same port with the same data (the worker's LDAP_URI is fixed)."""
    with (server.workdir / "slapd.log").open("a") as log:
        args = ["-F", str(server.workdir / "slapd.d"), "-d", "none", "-h", f"ldap://127.0.0.1:{server.port}/"]
        server.process = subprocess.Popen(
            [str(ldap_server.SLAPD), *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    wait_until(server.ready, timeout=10, interval=0.05, what="slapd to start again")


def _members(server: ldap_server.SlapdServer, cn: str) -> list[str] | None:
    """The group's member DNs as the server holds them, or None when there is no such group."""
    conn = ldap3.Connection(server.uri, ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)
    try:
        if not conn.search(group_dn(cn), "(objectClass=*)", BASE, attributes=["member"]):
            return None
        return [str(dn) for dn in conn.entries[0].member.values]
    finally:
        conn.unbind()


def _submit(username: str, text: str) -> Ticket:
    return ticket_submit(requester=User.objects.get(username=username), subject=text, description=text)


def _execution(ticket: Ticket) -> Execution | None:
    return Execution.objects.filter(ticket=ticket).first()


def _attempted(ticket: Ticket, times: int) -> bool:
    execution = _execution(ticket)
    return execution is not None and execution.attempts >= times


def _status(ticket: Ticket, status: str) -> bool:
    ticket.refresh_from_db()
    return ticket.status == status


def _audit_codes(execution: Execution) -> list[str]:
    return list(
        AuditEvent.objects.filter(code__startswith="execution.", data__execution=execution.pk)
        .order_by("id")
        .values_list("code", flat=True)
    )


def _assert_done_once(ticket: Ticket, server: ldap_server.SlapdServer, cn: str, username: str) -> None:
    """Retried, then done: resolved, one succeeded execution, the member present exactly once."""
    ticket.refresh_from_db()
    execution = _execution(ticket)
    assert execution is not None
    assert (ticket.status, execution.status) == (TicketStatus.RESOLVED, ExecutionStatus.SUCCEEDED)
    assert 2 <= execution.attempts <= ATTEMPTS
    assert execution.connector == "ldap"
    assert (_members(server, cn) or []).count(user_dn(username)) == 1
    assert _audit_codes(execution) == ["execution.started", "execution.succeeded"]


def _assert_given_up(ticket: Ticket, server: ldap_server.SlapdServer, cn: str, username: str) -> None:
    """Retried, then a person: escalated with the reason, one failed execution, nothing changed."""
    ticket.refresh_from_db()
    execution = _execution(ticket)
    assert execution is not None
    assert (ticket.status, execution.status) == (TicketStatus.ESCALATED, ExecutionStatus.FAILED)
    assert ticket.escalation_reason == EscalationReason.EXECUTION_FAILED
    assert "unavailable" in ticket.escalation_detail, ticket.escalation_detail
    assert execution.attempts == ATTEMPTS
    assert user_dn(username) not in (_members(server, cn) or [])
    assert _audit_codes(execution) == ["execution.failed"]


def _sentinel(username: str, text: str, timeout: float = 60) -> None:
    """A ticket after the fault is cleared: once it is done, the queue holds no late retry that
    could still change what the failed ticket left alone."""
    ticket = _submit(username, text)
    wait_until(lambda: _status(ticket, TicketStatus.RESOLVED), timeout=timeout, what=f"{text!r} resolved")


def test_ldap_down_or_slow_is_retried_then_escalated_and_never_half_done(settings, slapd, tmp_path):
    demo_org_load(password="demo")
    demo_catalog_load()
    queue = new_queue("faults-ldap")
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    worker = Worker(
        queue=queue,
        log_path=tmp_path / "worker.log",
        concurrency=1,
        env={
            "AGENT_ENABLED": "true",
            "AGENT_LLM": "none",
            "DIRECTORY_BACKEND": "ldap",
            "LDAP_URI": slapd.uri,
            "LDAP_BIND_DN": SERVICE_DN,
            "LDAP_BIND_PASSWORD": SERVICE_PASSWORD,
            "LDAP_BASE_DN": BASE_DN,
            "LDAP_TIMEOUT_SECONDS": "1",
        },
    )
    worker.start()
    try:
        # The worker is up (it loads the embedding model first) and the directory works.
        _sentinel("gwen", "please install Zoom", timeout=300)

        # Down, back during the retries: done once.
        slapd.stop()
        zoom = _submit("alice", "please install Zoom")
        wait_until(lambda: _attempted(zoom, 2), timeout=60, what="a retry while LDAP is down")
        _restart(slapd)
        wait_until(lambda: _status(zoom, TicketStatus.RESOLVED), timeout=60, what="the install")
        _assert_done_once(zoom, slapd, "software-zoom", "alice")

        # Down through every retry: a person, nothing changed, and nothing changes later either.
        slapd.stop()
        slack = _submit("bob", "I need Slack on my laptop")
        wait_until(lambda: _status(slack, TicketStatus.ESCALATED), timeout=120, what="escalation")
        _restart(slapd)
        _sentinel("erin", "please install 7-Zip")
        _assert_given_up(slack, slapd, "software-slack", "bob")

        # Slow (frozen), back during the retries: done once.
        os.kill(slapd.process.pid, signal.SIGSTOP)
        wiki = _submit("carol", "please add me to the wiki editors group")
        wait_until(lambda: _attempted(wiki, 2), timeout=60, what="a retry while LDAP is frozen")
        os.kill(slapd.process.pid, signal.SIGCONT)
        wait_until(lambda: _status(wiki, TicketStatus.RESOLVED), timeout=60, what="the grant")
        _assert_done_once(wiki, slapd, "wiki-editors", "carol")

        # Slow through every retry: a person; the requests it had queued do not change anything
        # once it wakes up.
        os.kill(slapd.process.pid, signal.SIGSTOP)
        vpn = _submit("dave", "I need VPN access")
        wait_until(lambda: _status(vpn, TicketStatus.ESCALATED), timeout=150, what="escalation")
        os.kill(slapd.process.pid, signal.SIGCONT)
        _sentinel("frank", "can I get Visual Studio Code")
        _assert_given_up(vpn, slapd, "vpn-users", "dave")
    finally:
        if slapd.process.poll() is None:
            os.kill(slapd.process.pid, signal.SIGCONT)
        worker.stop()
        print(worker.log_tail())

    assert verify_chain(AuditEvent.objects.order_by("id").iterator()).ok
