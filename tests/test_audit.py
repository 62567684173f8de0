"""The audit trail: a hash chain that names the first tampered event, append-only on PostgreSQL,
safe under concurrent writers, and exported for auditors."""

import csv
import hashlib
import importlib
import io
import json
import re
import threading
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import ProgrammingError, connection, connections, transaction
from django.urls import reverse

from core.audit import GENESIS, audit_record, audit_verify, canonical_content
from core.audit_export import COLUMNS, events_between
from core.models import AuditEvent
from servicedesk.models import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

EDITED = "content does not match its hash (edited)"
LINK_BROKEN = "previous-hash link broken (an event before it was deleted, inserted or moved)"
ROW_TRIGGER = "governance_auditevent_append_only"
TRUNCATE_TRIGGER = "governance_auditevent_no_truncate"


def _chain(count: int) -> list[AuditEvent]:
    return [
        audit_record(code="ticket.received", actor_kind="system", ticket_id=i, data={"n": i})
        for i in range(1, count + 1)
    ]


@contextmanager
def _tampering():
    """On PostgreSQL the trigger refuses changes; a tamperer who owns the table switches it off.
    Inside the test's transaction, so the trigger is back on afterwards whatever happens."""
    postgres = connection.vendor == "postgresql"
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE governance_auditevent DISABLE TRIGGER {ROW_TRIGGER}")
    try:
        yield
    finally:
        if postgres:
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE governance_auditevent ENABLE TRIGGER {ROW_TRIGGER}")


def _skip_unless_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only (CI runs the whole suite on PostgreSQL)")


# The chain -----------------------------------------------------------------------------------------


def test_a_chain_of_events_verifies():
    events = _chain(20)
    result = audit_verify()
    assert (result.ok, result.checked, result.head) == (True, 20, events[-1].hash)
    assert (result.bad_event_id, result.problem) == (None, "")
    assert events[0].prev_hash == GENESIS
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]


def test_an_empty_trail_verifies():
    result = audit_verify()
    assert (result.ok, result.checked, result.head) == (True, 0, GENESIS)


@pytest.mark.parametrize(
    "changes",
    [
        {"data": {"n": 999}},
        {"code": "execution.succeeded"},
        {"created_at": datetime(2020, 1, 1, tzinfo=UTC)},
        {"actor_label": "someone-else"},
        {"ticket_id": 4242},
    ],
    ids=["data", "code", "created_at", "actor_label", "ticket_id"],
)
def test_an_edited_event_is_named(changes):
    events = _chain(5)
    with _tampering():
        AuditEvent.objects.filter(pk=events[2].pk).update(**changes)
    result = audit_verify()
    assert (result.ok, result.bad_event_id, result.problem) == (False, events[2].pk, EDITED)
    assert (result.checked, result.head) == (2, events[1].hash)


def test_an_edit_with_a_recomputed_hash_is_caught_at_the_next_event():
    events = _chain(5)
    forged = AuditEvent.objects.get(pk=events[2].pk)
    forged.data = {"n": 999}
    with _tampering():
        AuditEvent.objects.filter(pk=forged.pk).update(
            data=forged.data, hash=hashlib.sha256(canonical_content(forged)).hexdigest()
        )
    result = audit_verify()
    assert (result.ok, result.bad_event_id, result.problem) == (False, events[3].pk, LINK_BROKEN)
    assert result.checked == 3


def test_a_deleted_event_is_named_by_the_one_after_it():
    events = _chain(5)
    with _tampering():
        AuditEvent.objects.filter(pk=events[2].pk).delete()
    result = audit_verify()
    assert (result.ok, result.bad_event_id, result.problem) == (False, events[3].pk, LINK_BROKEN)
    assert (result.checked, result.head) == (2, events[1].hash)


def test_a_deleted_last_event_leaves_a_valid_shorter_chain():
    """The limit of a hash chain alone: cutting the tail is only visible against a kept head hash."""
    events = _chain(3)
    with _tampering():
        AuditEvent.objects.filter(pk=events[2].pk).delete()
    result = audit_verify()
    assert (result.ok, result.checked, result.head) == (True, 2, events[1].hash)


def test_reordered_events_are_named_at_the_first_moved_one():
    events = _chain(5)
    fields = ["created_at", "actor_kind", "actor_id", "actor_label", "code", "ticket_id", "data", "prev_hash"]
    second, third = (AuditEvent.objects.get(pk=e.pk) for e in events[1:3])
    with _tampering():
        # Swap every field but the id; the hash column is unique, so park one value first.
        AuditEvent.objects.filter(pk=second.pk).update(hash="x" * 64)
        AuditEvent.objects.filter(pk=third.pk).update(
            hash=second.hash, **{f: getattr(second, f) for f in fields}
        )
        AuditEvent.objects.filter(pk=second.pk).update(
            hash=third.hash, **{f: getattr(third, f) for f in fields}
        )
    assert list(AuditEvent.objects.order_by("id").values_list("ticket_id", flat=True)) == [1, 3, 2, 4, 5]
    result = audit_verify()
    assert (result.ok, result.bad_event_id, result.problem) == (False, events[1].pk, LINK_BROKEN)
    assert result.checked == 1


def test_an_unknown_code_is_refused_and_nothing_is_written():
    with pytest.raises(ValueError, match=r"unknown audit code 'agent\.did\.something'"):
        audit_record(code="agent.did.something", actor_kind="agent")
    assert AuditEvent.objects.count() == 0


def test_an_event_rolls_back_with_the_change_it_records():
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(code="agent.paused", actor_kind="system", data={"reason": "test"})
        raise RuntimeError("the change failed")
    assert AuditEvent.objects.count() == 0


# PostgreSQL: append-only in the database ---------------------------------------------------------


def test_postgres_refuses_update_and_delete_of_an_audit_event():
    _skip_unless_postgres()
    event = audit_record(code="ticket.received", actor_kind="system", ticket_id=1, data={"n": 1})
    with (
        pytest.raises(ProgrammingError, match=r"audit events are append-only \(UPDATE refused"),
        transaction.atomic(),
    ):
        AuditEvent.objects.filter(pk=event.pk).update(data={"n": 2})
    with (
        pytest.raises(ProgrammingError, match=r"audit events are append-only \(DELETE refused"),
        transaction.atomic(),
    ):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(ProgrammingError, match=r"append-only \(UPDATE refused"), transaction.atomic():
        stored = AuditEvent.objects.get(pk=event.pk)
        stored.code = "agent.paused"
        stored.save()
    assert list(AuditEvent.objects.values_list("id", "code", "data", "hash")) == [
        (event.pk, "ticket.received", {"n": 1}, event.hash)
    ]
    assert audit_verify().ok


def test_postgres_refuses_truncate_of_the_audit_trail():
    """Test databases create the TRUNCATE trigger disabled (Django's flush truncates between
    transactional tests); switched on, as it is everywhere else, it refuses."""
    _skip_unless_postgres()
    audit_record(code="ticket.received", actor_kind="system")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'governance_auditevent'::regclass "
            "AND NOT tgisinternal ORDER BY tgname"
        )
        assert cursor.fetchall() == [(ROW_TRIGGER, "O"), (TRUNCATE_TRIGGER, "D")]
        cursor.execute(f"ALTER TABLE governance_auditevent ENABLE TRIGGER {TRUNCATE_TRIGGER}")
    with (
        pytest.raises(ProgrammingError, match=r"append-only \(TRUNCATE refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("TRUNCATE governance_auditevent")
    assert AuditEvent.objects.count() == 1


def test_postgres_migration_reverse_drops_the_triggers():
    _skip_unless_postgres()
    migration = importlib.import_module("governance.migrations.0003_audit_append_only")
    event = audit_record(code="ticket.received", actor_kind="system")
    with connection.schema_editor() as editor:
        migration.drop_triggers(None, editor)
    AuditEvent.objects.filter(pk=event.pk).update(ticket_id=5)  # no trigger: allowed
    with connection.schema_editor() as editor:
        migration.create_triggers(None, editor)
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(ticket_id=6)
    assert AuditEvent.objects.get().ticket_id == 5


@pytest.mark.django_db(transaction=True)
def test_postgres_concurrent_writers_keep_one_valid_chain():
    _skip_unless_postgres()
    writers, per_writer = 8, 15
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            start.wait(timeout=30)
            for i in range(per_writer):
                with transaction.atomic():
                    audit_record(code="ticket.received", actor_kind="system", data={"w": writer, "i": i})
        except BaseException as error:  # reported below
            failures.append(error)
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    result = audit_verify()
    assert (result.ok, result.checked) == (True, writers * per_writer)
    assert result.head == AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    for writer in range(writers):
        mine = AuditEvent.objects.filter(data__w=writer).order_by("id").values_list("data__i", flat=True)
        assert list(mine) == list(range(per_writer))


# manage.py audit_verify ----------------------------------------------------------------------------


def test_audit_verify_command_reports_ok_and_the_head():
    events = _chain(3)
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert out.getvalue() == f"OK: 3 events, head {events[-1].hash}\n"


def test_audit_verify_command_on_an_empty_trail():
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert out.getvalue() == f"OK: 0 events, head {GENESIS}\n"


def test_audit_verify_command_names_the_first_bad_event_and_exits_1():
    events = _chain(4)
    with _tampering():
        AuditEvent.objects.filter(pk=events[1].pk).update(data={"n": "changed"})
        AuditEvent.objects.filter(pk=events[3].pk).update(data={"n": "changed too"})
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit_verify", stdout=out, stderr=err)
    assert exit_info.value.code == 1
    assert out.getvalue() == ""
    assert err.getvalue() == (
        f"FAIL: event {events[1].pk}: {EDITED}; the 1 events before it verify "
        f"(last good hash {events[0].hash})\n"
    )


# Export ------------------------------------------------------------------------------------------


@pytest.fixture
def dated_events(monkeypatch, settings):
    """Four events around the day 2026-03-02 (UTC): one just before, two on it, one just after."""
    settings.TIME_ZONE = "UTC"
    erin = UserFactory(username="erin", roles=[Role.MANAGER])
    moments = iter(
        [
            datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(2026, 3, 2, 0, 0, tzinfo=UTC),
            datetime(2026, 3, 2, 12, 30, 0, 500000, tzinfo=UTC),
            datetime(2026, 3, 3, 0, 0, tzinfo=UTC),
        ]
    )
    monkeypatch.setattr("django.utils.timezone.now", lambda: next(moments))
    events = [
        audit_record(code="ticket.received", actor_kind="system", ticket_id=7),
        audit_record(code="agent.paused", actor_kind="user", actor=erin, data={"reason": "phishing wave"}),
        audit_record(
            code="policy.decided",
            actor_kind="agent",
            actor_label='=HYPERLINK("x")',
            ticket_id=7,
            data={"outcome": "escalate", "note": 'café, "quoted"'},
        ),
        audit_record(code="agent.resumed", actor_kind="user", actor=erin, data={"reason": "over"}),
    ]
    monkeypatch.undo()
    return erin, events


def _expected_rows(erin, events):
    second, third = events[1], events[2]
    return [
        {
            "id": second.pk,
            "created_at": "2026-03-02T00:00:00.000000+00:00",
            "actor_kind": "user",
            "actor_id": erin.pk,
            "actor_label": "erin",
            "code": "agent.paused",
            "text": "Agent paused",
            "ticket_id": None,
            "data": {"reason": "phishing wave"},
            "prev_hash": events[0].hash,
            "hash": second.hash,
        },
        {
            "id": third.pk,
            "created_at": "2026-03-02T12:30:00.500000+00:00",
            "actor_kind": "agent",
            "actor_id": None,
            "actor_label": '=HYPERLINK("x")',
            "code": "policy.decided",
            "text": "Governance decided",
            "ticket_id": 7,
            "data": {"note": 'café, "quoted"', "outcome": "escalate"},
            "prev_hash": second.hash,
            "hash": third.hash,
        },
    ]


def test_audit_export_jsonl_holds_exactly_the_days_events(dated_events):
    erin, events = dated_events
    out = io.StringIO()
    call_command("audit_export", since="2026-03-02", until="2026-03-02", format="jsonl", stdout=out)
    expected = _expected_rows(erin, events)
    assert out.getvalue() == "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in expected)


def test_audit_export_csv_holds_exactly_the_days_events(dated_events):
    erin, events = dated_events
    out = io.StringIO()
    call_command("audit_export", "--since=2026-03-02", "--until=2026-03-02", "--format=csv", stdout=out)
    second, third = events[1], events[2]
    text = out.getvalue()
    assert text.splitlines()[0] == (
        "id,created_at,actor_kind,actor_id,actor_label,code,text,ticket_id,data,prev_hash,hash"
    )
    header, *rows = csv.reader(io.StringIO(text))
    assert header == list(COLUMNS)
    assert rows == [
        [
            str(second.pk),
            "2026-03-02T00:00:00.000000+00:00",
            "user",
            str(erin.pk),
            "erin",
            "agent.paused",
            "Agent paused",
            "",
            '{"reason":"phishing wave"}',
            events[0].hash,
            second.hash,
        ],
        [
            str(third.pk),
            "2026-03-02T12:30:00.500000+00:00",
            "agent",
            "",
            '\'=HYPERLINK("x")',  # a cell a spreadsheet would run as a formula gets a leading quote
            "policy.decided",
            "Governance decided",
            "7",
            '{"note":"café, \\"quoted\\"","outcome":"escalate"}',
            second.hash,
            third.hash,
        ],
    ]


def test_audit_export_to_a_file_over_several_days(dated_events, tmp_path):
    _, events = dated_events
    target = tmp_path / "audit.jsonl"
    err = io.StringIO()
    call_command(
        "audit_export", since="2026-03-01", until="2026-03-03", format="jsonl", output=str(target), stderr=err
    )
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [e.pk for e in events]
    assert err.getvalue() == f"wrote 4 events to {target}\n"


@pytest.mark.parametrize(
    "since,until,message",
    [
        ("2026-03-03", "2026-03-02", "--since 2026-03-03 is after --until 2026-03-02"),
        ("2026-13-01", "2026-03-02", "'2026-13-01' is not a date (use YYYY-MM-DD)"),
    ],
)
def test_audit_export_refuses_a_bad_range(since, until, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("audit_export", since=since, until=until, format="csv", stdout=io.StringIO())


# The admin's audit browser ------------------------------------------------------------------------


@pytest.fixture
def ivan_admin(client):
    ivan = UserFactory(username="ivan", is_staff=True, roles=[Role.EMPLOYEE, Role.SERVICE_DESK])
    client.force_login(ivan)
    return client


def test_admin_export_takes_the_lists_filters(dated_events, ivan_admin):
    erin, events = dated_events
    url = reverse("admin:core_auditevent_export", args=["jsonl"])
    response = ivan_admin.get(
        url, {"created_at__gte": "2026-03-02T00:00:00+00:00", "created_at__lt": "2026-03-03T00:00:00+00:00"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-events-')
    body = b"".join(response.streaming_content).decode()
    assert body == "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in _expected_rows(erin, events))

    response = ivan_admin.get(
        reverse("admin:core_auditevent_export", args=["csv"]), {"code": "agent.resumed"}
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[0] for row in rows] == ["id", str(events[3].pk)]


def test_admin_export_action_exports_the_selected_events(dated_events, ivan_admin):
    _, events = dated_events
    response = ivan_admin.post(
        reverse("admin:core_auditevent_changelist"),
        {"action": "export_csv", "_selected_action": [events[3].pk, events[0].pk]},
    )
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[0] for row in rows] == ["id", str(events[0].pk), str(events[3].pk)]


def test_admin_audit_browser_lists_filters_and_searches(dated_events, ivan_admin):
    _, events = dated_events
    changelist = reverse("admin:core_auditevent_changelist")
    response = ivan_admin.get(changelist)
    assert response.status_code == 200
    assert [e.pk for e in response.context["cl"].result_list] == [e.pk for e in events]
    assert "Agent paused" in response.text and "Export JSONL" in response.text
    filtered = ivan_admin.get(changelist, {"code": "agent.paused", "actor_kind": "user"})
    assert [e.pk for e in filtered.context["cl"].result_list] == [events[1].pk]
    searched = ivan_admin.get(changelist, {"q": "7"})
    assert sorted(e.pk for e in searched.context["cl"].result_list) == [events[0].pk, events[2].pk]
    by_day = ivan_admin.get(
        changelist, {"created_at__year": "2026", "created_at__month": "3", "created_at__day": "2"}
    )
    assert sorted(e.pk for e in by_day.context["cl"].result_list) == [events[1].pk, events[2].pk]


def test_admin_audit_events_are_read_only_even_for_managers(dated_events, client):
    _, events = dated_events
    judy = UserFactory(username="judy", is_staff=True, roles=[Role.SERVICE_DESK, Role.MANAGER])
    client.force_login(judy)
    event = events[1]
    before = list(AuditEvent.objects.order_by("id").values())
    assert client.get(reverse("admin:core_auditevent_add")).status_code == 403
    change = reverse("admin:core_auditevent_change", args=[event.pk])
    page = client.get(change)
    assert page.status_code == 200
    assert "phishing wave" in page.text and 'name="_save"' not in page.text
    assert client.post(change, {"code": "agent.resumed"}).status_code == 403
    assert (
        client.post(reverse("admin:core_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code
        == 403
    )
    response = client.post(
        reverse("admin:core_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert response.status_code == 302  # no such action here: "No action selected."
    assert list(AuditEvent.objects.order_by("id").values()) == before


def test_employees_cannot_open_the_audit_browser(dated_events, client):
    alice = UserFactory(username="alice")
    client.force_login(alice)
    response = client.get(reverse("admin:core_auditevent_changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    export = client.get(reverse("admin:core_auditevent_export", args=["jsonl"]))
    assert export.status_code == 302


def test_export_ranges_are_in_the_configured_time_zone(dated_events, settings):
    """``--since``/``--until`` are local days: in New York, 2026-03-01 ends at 05:00 UTC on the 2nd."""
    settings.TIME_ZONE = "America/New_York"
    _, events = dated_events
    ids = list(events_between(since=date(2026, 3, 1), until=date(2026, 3, 1)).values_list("id", flat=True))
    assert ids == [events[0].pk, events[1].pk]
    assert events[1].created_at - events[0].created_at == timedelta(microseconds=1)
