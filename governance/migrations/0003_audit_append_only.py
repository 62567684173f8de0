"""On PostgreSQL, the database itself refuses UPDATE, DELETE and TRUNCATE on the audit trail.

Written by hand. SQLite has no such guard (and no TRUNCATE); ``manage.py audit_verify`` still
catches any change there.

Django's test runner empties every table with one TRUNCATE after each transactional test (``flush``),
so on a test database (named ``test_…``) the TRUNCATE trigger is created disabled; the test suite
enables it inside a test to prove that it refuses. Row UPDATE and DELETE are refused everywhere.
"""

from django.db import migrations
from django.db.backends.base.creation import TEST_DATABASE_PREFIX

FUNCTION = "governance_auditevent_append_only"
ROW_TRIGGER = "governance_auditevent_append_only"
TRUNCATE_TRIGGER = "governance_auditevent_no_truncate"

CREATE = [
    f"""
    CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit events are append-only (% refused on %)', TG_OP, TG_TABLE_NAME
            USING HINT = 'The audit trail is hash-chained: events are only ever added.';
    END;
    $$
    """,
    f"""
    CREATE TRIGGER {ROW_TRIGGER} BEFORE UPDATE OR DELETE ON governance_auditevent
    FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()
    """,
    f"""
    CREATE TRIGGER {TRUNCATE_TRIGGER} BEFORE TRUNCATE ON governance_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()
    """,
]

DROP = [
    f"DROP TRIGGER IF EXISTS {TRUNCATE_TRIGGER} ON governance_auditevent",
    f"DROP TRIGGER IF EXISTS {ROW_TRIGGER} ON governance_auditevent",
    f"DROP FUNCTION IF EXISTS {FUNCTION}()",
]


def create_triggers(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    for statement in CREATE:
        schema_editor.execute(statement, params=None)  # None: the "%" in RAISE is not a placeholder
    if connection.settings_dict["NAME"].startswith(TEST_DATABASE_PREFIX):
        schema_editor.execute(f"ALTER TABLE governance_auditevent DISABLE TRIGGER {TRUNCATE_TRIGGER}")


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in DROP:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0002_executor_fields"),
    ]

    operations = [
        migrations.RunPython(create_triggers, drop_triggers, elidable=False),
    ]
