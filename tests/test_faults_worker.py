"""Worker processes killed with SIGKILL while 500 tickets go through the agent, governance and the
built-in directory: every ticket still ends resolved, waiting for approval or with a person, no
directory change is made twice, and the audit chain verifies.

The worker is a real prefork Celery worker (two pool processes) on Redis, reading the PostgreSQL
test database, with the agent on (router alone, ``AGENT_LLM=none``). The test lets in about 21
tickets per kill, at most 12 undecided at a time, and SIGKILLs a pool process that is running a
task (or, every seventh time, the main process, which it then starts again) once ten more tickets
are decided and every pool process is warm, so the kills land on work in progress. If the worker
has drained every ticket let in before a busy process was seen, the run would wait for a kill that
cannot come, so that kill takes an idle pool process ("idle child"). Messages held
by a killed main process stay unacknowledged in Redis (for the visibility timeout, an hour), so the
product's answer is the real ``sweep_stuck_tickets``, called here every 10 s as Celery beat calls
it every minute.

A pool process builds the router before it takes work (a few seconds alone on 2 cores, several
times that on a busy machine), so most of the run is model loading after the kills: 89 s on an idle
2-core machine, about 4 minutes on a busy one.

Each (requester, group or software) pair is asked for once, so every membership or assignment the
directory gains must belong to exactly one succeeded execution, and the other way round; a reset
link is a ``ResetToken`` row, one per execution.
"""

import random
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import Group, User

from agents.models import AgentRun
from agents.tasks import sweep_stuck_tickets
from core.audit import verify_chain
from core.models import AuditEvent
from governance.demo import demo_catalog_load
from governance.models import (
    CatalogAction,
    DirectoryAccount,
    DirectoryMembership,
    Execution,
    ExecutionStatus,
    ResetToken,
    SoftwareAssignment,
)
from servicedesk.demo_org import demo_org_load
from servicedesk.models import EscalationReason, Profile, Role, Ticket, TicketStatus
from servicedesk.services import ticket_submit
from tests.fault_tools import FAULTS_SKIP, Worker, new_queue

pytestmark = [
    pytest.mark.faults,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    FAULTS_SKIP,
]

TICKETS = 500
KILLS = 22  # issue #7 asks for at least 20
MAIN_EVERY = 7  # every seventh kill is the main process (restarting costs two model loads)
QUOTA = TICKETS // (KILLS + 1)  # tickets let in per kill, so the last kill still has work to hit
MIN_PROGRESS = 10  # tickets decided since the last kill, at least, before the next
WINDOW = 12  # tickets submitted but not yet decided, at most
SWEEP_EVERY = 10.0
STUCK_AFTER = 30  # TICKET_STUCK_AFTER_SECONDS: the product's minimum
DEADLINE = 1500.0  # a hang guard, not a timing: 1.5 minutes on an idle 2-core machine

LOST_TASK = "Task handler raised error: WorkerLostError"

R, A, E = TicketStatus.RESOLVED, TicketStatus.AWAITING_APPROVAL, TicketStatus.ESCALATED


@dataclass(frozen=True)
class Request:
    text: str
    expected: str
    action: str = ""
    item: str = ""  # the group or software the change adds


REQUESTS = [
    Request("please install Zoom", R, "install_software", "Zoom"),
    Request("I need Slack on my laptop", R, "install_software", "Slack"),
    Request("can I get Visual Studio Code", R, "install_software", "Visual Studio Code"),
    Request("please install 7-Zip", R, "install_software", "7-Zip"),
    Request("I need VPN access", R, "grant_group_access", "vpn-users"),
    Request("please add me to the wiki editors group", R, "grant_group_access", "wiki-editors"),
    Request("I forgot my password", R, "reset_password"),
    Request("my account is locked", R, "unlock_account"),
    Request("I need a licence for Tableau", A),  # 900 USD a year: the manager approves
    Request("I need access to the finance reports share", A),  # sensitive group
    Request("my monitor is broken", E),  # hardware: a person
]
# The protected executive: the agent never acts for him.
HENRY = [
    Request("please install Zoom", E),
    Request("I forgot my password", E),
    Request("I need VPN access", E),
    Request("my account is locked", E),
    Request("my monitor is broken", E),
]
EXTRA_PEOPLE = (TICKETS - len(HENRY)) // len(REQUESTS) - 9  # 9 demo people besides henry
MANAGERS = {"Engineering": "erin", "Sales": "gwen", "Finance": "frank"}


def _extra_people(count: int) -> list[User]:
    """More employees, so that every (person, group or software) pair is asked for only once."""
    employees = Group.objects.get(name=Role.EMPLOYEE.value)
    people = []
    for n in range(count):
        department = list(MANAGERS)[n % len(MANAGERS)]
        user = User.objects.create_user(
            username=f"emp{n:02d}",
            first_name="Fault",
            last_name=f"Tester{n:02d}",
            email=f"emp{n:02d}@example.com",
        )
        user.groups.add(employees)
        Profile.objects.create(
            user=user,
            department=department,
            title="Employee",
            manager=User.objects.get(username=MANAGERS[department]),
        )
        DirectoryAccount.objects.create(
            username=user.username,
            display_name=user.get_full_name(),
            email=user.email,
            department=department,
        )
        people.append(user)
    return people


def _plan() -> list[tuple[User, Request]]:
    demo_org_load(password="demo")
    demo_catalog_load()
    # The rate budget (30 an hour by default) is a separate guarantee; here it would escalate most.
    CatalogAction.objects.update(hourly_budget=100_000)
    demo = list(User.objects.exclude(username="henry").order_by("username"))
    people = demo + _extra_people(EXTRA_PEOPLE)
    henry = User.objects.get(username="henry")
    DirectoryAccount.objects.exclude(username="henry").update(locked=True)  # so each unlock is a change
    plan = [(person, request) for person in people for request in REQUESTS]
    plan += [(henry, request) for request in HENRY]
    random.Random(7).shuffle(plan)
    assert len(plan) == TICKETS
    return plan


def _directory_pairs() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    groups = set(DirectoryMembership.objects.values_list("account__username", "group__name"))
    software = set(SoftwareAssignment.objects.values_list("account__username", "software__name"))
    return groups, software


def _undecided() -> int:
    return Ticket.objects.filter(status__in=[TicketStatus.NEW, TicketStatus.TRIAGING]).count()


def _unfinished_executions() -> int:
    return Execution.objects.filter(status=ExecutionStatus.STARTED).count()


@dataclass
class _Run:
    """The test's side of the run: feed tickets, kill processes, sweep, as the clock goes."""

    worker: Worker
    plan: list[tuple[User, "Request"]]
    rng: random.Random = field(default_factory=lambda: random.Random(11))
    submitted: list[Ticket] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    decided_at_last_kill: int = 0
    sweeps: int = 0
    next_sweep: float = 0.0

    def step(self) -> bool:
        """One round of the loop; True when every ticket is decided and every execution finished."""
        decided = len(self.submitted) - _undecided()
        self.feed(decided)
        # Stalled: every ticket let in so far is decided, and the rest wait for the next kill. The
        # worker is idle, so that kill cannot find a busy process; it takes any.
        stalled = decided == len(self.submitted) < TICKETS and not _unfinished_executions()
        self.maybe_kill(decided, stalled=stalled)
        if time.monotonic() >= self.next_sweep:
            self.sweeps += 1
            sweep_stuck_tickets()
            self.next_sweep = time.monotonic() + SWEEP_EVERY
        return len(self.submitted) == TICKETS and not _undecided() and not _unfinished_executions()

    def feed(self, decided: int) -> None:
        """Keep WINDOW tickets in flight, and hold the rest back until the next kill, so that the
        kills are spread over the whole run."""
        cap = TICKETS if len(self.kills) >= KILLS else (len(self.kills) + 1) * QUOTA + WINDOW
        while len(self.submitted) < min(cap, TICKETS) and len(self.submitted) - decided < WINDOW:
            person, request = self.plan[len(self.submitted)]
            ticket = ticket_submit(requester=person, subject=request.text, description=request.text)
            self.submitted.append(ticket)

    def maybe_kill(self, decided: int, *, stalled: bool = False) -> None:
        """Kill once the worker has done some work since the last kill, all its pool processes are
        warm (one still loading the model is not doing anything worth interrupting), and one of
        them is running a task: that one (or the main process, every MAIN_EVERY kills). When the
        run has stalled waiting for this kill, an idle pool process will do."""
        if len(self.kills) >= KILLS or decided - self.decided_at_last_kill < MIN_PROGRESS:
            return
        if not self.worker.all_children_ready():
            return
        busy = self.worker.busy_children()
        targets = busy or (self.worker.children() if stalled else [])
        if not targets:
            return
        if len(self.kills) % MAIN_EVERY == MAIN_EVERY - 1:
            self.worker.kill_main()
            self.worker.start()
            self.kills.append("main")
        else:
            self.worker.kill_child(self.rng.choice(targets).pid)
            self.kills.append("child" if busy else "idle child")
        self.decided_at_last_kill = decided


def test_killed_workers_lose_no_ticket_and_do_nothing_twice(settings, tmp_path):
    plan = _plan()
    groups_before, software_before = _directory_pairs()
    queue = new_queue("faults-kill")
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    settings.TICKET_STUCK_AFTER_SECONDS = STUCK_AFTER
    worker = Worker(
        queue=queue,
        log_path=tmp_path / "worker.log",
        env={"AGENT_ENABLED": "true", "AGENT_LLM": "none"},
        concurrency=2,
    )
    run = _Run(worker, plan)
    worker.start()
    t0 = time.monotonic()
    try:
        while not run.step():
            assert time.monotonic() - t0 < DEADLINE, f"not done after {DEADLINE:.0f}s: {_state()}"
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
    finally:
        worker.stop()
    log = worker.log_path.read_text(errors="replace")
    _report(run, elapsed, log)

    kills = run.kills
    assert len(kills) >= 20 and kills.count("main") >= 3, kills
    # Most killed pool processes were in the middle of a task (Celery reports each such loss; a
    # task that ended in the 0.15 s between the sample and the kill is not one).
    assert log.count(LOST_TASK) >= kills.count("child") // 2, log.count(LOST_TASK)
    tickets = {t.pk: t for t in Ticket.objects.select_related("requester")}
    assert len(tickets) == TICKETS
    requests = {ticket.pk: request for ticket, (_, request) in zip(run.submitted, plan, strict=True)}
    _assert_outcomes(tickets, requests)
    _assert_no_change_twice(tickets, requests, groups_before, software_before)
    _assert_audit_chain()


def _state() -> dict[str, object]:
    return {
        "statuses": dict(Counter(Ticket.objects.values_list("status", flat=True))),
        "executions": dict(Counter(Execution.objects.values_list("status", flat=True))),
    }


def _report(run: _Run, elapsed: float, log: str) -> None:
    retriaged = Ticket.objects.filter(triage_attempts__gt=1).count()
    rerun = Execution.objects.filter(attempts__gt=1).count()
    print(
        f"\n{TICKETS} tickets in {elapsed:.0f}s; kills: {dict(Counter(run.kills))}; "
        f"tasks interrupted by a killed pool process: {log.count(LOST_TASK)}; worker starts: "
        f"{run.worker.starts}; sweeps: {run.sweeps}; tickets triaged more than once: {retriaged}; "
        f"executions run more than once: {rerun}; {_state()}"
    )


def _assert_outcomes(tickets: dict[int, Ticket], requests: dict[int, Request]) -> None:
    """Each ticket ends as its request should, or (a ticket whose triage was killed three times) with
    a person and the reason; never new, triaging, or resolved without its change."""
    statuses = Counter(t.status for t in tickets.values())
    assert set(statuses) <= {R, A, E}, statuses
    unexpected = {
        pk: (requests[pk].text, t.status, t.escalation_reason, t.escalation_detail)
        for pk, t in tickets.items()
        if t.status != requests[pk].expected
    }
    # The only allowed deviation: the agent gave up after MAX_TRIAGE_ATTEMPTS killed attempts.
    for pk, (_text, status, reason, detail) in unexpected.items():
        assert (status, reason) == (E, EscalationReason.AGENT_FAILED), unexpected[pk]
        assert detail.startswith("no decision after"), unexpected[pk]
    assert len(unexpected) <= 3, unexpected
    # One decision per ticket and round (a database constraint), and the escalations say why.
    assert not AgentRun.objects.filter(outcome="error").exists()
    for ticket in tickets.values():
        if ticket.status == E:
            assert ticket.escalation_reason and ticket.queue_id, ticket


def _assert_no_change_twice(
    tickets: dict[int, Ticket],
    requests: dict[int, Request],
    groups_before: set[tuple[str, str]],
    software_before: set[tuple[str, str]],
) -> None:
    executions = list(Execution.objects.select_related("ticket__requester"))
    per_ticket = Counter(e.ticket_id for e in executions)
    assert max(per_ticket.values()) == 1, "a ticket has two executions"
    assert {e.status for e in executions} == {ExecutionStatus.SUCCEEDED}
    succeeded = {e.ticket_id: e for e in executions}
    # A ticket is resolved exactly when its execution succeeded.
    assert {pk for pk, t in tickets.items() if t.status == R} == set(succeeded)
    for pk, execution in succeeded.items():
        assert execution.action == requests[pk].action, (pk, execution.action, requests[pk])

    groups_after, software_after = _directory_pairs()
    wanted = {
        (e.ticket.requester.username, requests[e.ticket_id].item)
        for e in executions
        if e.action == "grant_group_access"
    }
    assert groups_after - groups_before == wanted - groups_before
    assert groups_after >= wanted
    wanted = {
        (e.ticket.requester.username, requests[e.ticket_id].item)
        for e in executions
        if e.action == "install_software"
    }
    assert software_after - software_before == wanted
    assert len(software_after) - len(software_before) == sum(
        1 for e in executions if e.action == "install_software"
    )
    resets = [e for e in executions if e.action == "reset_password"]
    tokens = Counter(ResetToken.objects.values_list("execution_key", flat=True))
    assert tokens == Counter({e.idempotency_key: 1 for e in resets})
    unlocked = set(
        DirectoryAccount.objects.filter(locked=False)
        .exclude(username="henry")
        .values_list("username", flat=True)
    )
    assert unlocked == {e.ticket.requester.username for e in executions if e.action == "unlock_account"}
    # The audit trail says each change once.
    done = Counter(
        AuditEvent.objects.filter(code="execution.succeeded").values_list("data__execution", flat=True)
    )
    assert done == Counter({e.pk: 1 for e in executions})


def _assert_audit_chain() -> None:
    result = verify_chain(AuditEvent.objects.order_by("id").iterator())
    assert result.ok, result
    assert result.checked == AuditEvent.objects.count()
