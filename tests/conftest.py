import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.queue_seam import patch_task

ROOT = Path(__file__).resolve().parent.parent
WORKER_ARGS = (
    "-A config worker --pool solo --without-gossip --without-mingle --without-heartbeat --loglevel INFO"
)


@pytest.fixture(scope="session", autouse=True)
def _no_stray_sessions_at_teardown(django_db_setup, django_db_blocker):
    """The live server's request threads keep PostgreSQL sessions open; end them before the test
    database is dropped (this fixture's teardown runs just before django_db_setup's)."""
    yield
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(autouse=True)
def _test_settings(settings):
    """Templates resolve static files without a collectstatic manifest (a fresh clone has none), and
    passwords hash fast (the demo organisation sets ten of them per test)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # A fresh in-memory cache per test: rate-limit counters never leak between tests or runs.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", first_name="Alice", last_name="Chen")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob", first_name="Bob", last_name="Okafor")


@pytest.fixture
def api(alice):
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def anonymous_api():
    return APIClient()


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"  # NAME is absolute: four slashes in all
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def worker(settings, tmp_path):
    """A worker process on its own queue, reading the test database."""
    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    settings.AGENT_ENABLED = False
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_QUEUE": queue,
        "AGENT_ENABLED": "false",
        "DATA_DIR": str(django_settings.DATA_DIR),
    }
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", *WORKER_ARGS.split(), "--queues", queue],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    print((tmp_path / "worker.log").read_text()[-3000:])


@pytest.fixture
def triage(django_capture_on_commit_callbacks):
    """Run the agent on a ticket and the executor on whatever it enqueued, as the two workers would
    (``execute=False``: the executor's task is left unrun)."""
    from agents.services import ticket_triage
    from governance.executor import execution_run

    def run(ticket, execute: bool = True):
        def executor(args: tuple[int], queue: str) -> None:
            if execute:
                execution_run(execution_id=args[0])

        with (
            patch_task("governance.tasks.run_execution", side_effect=executor),
            django_capture_on_commit_callbacks(execute=True),
        ):
            ticket_triage(ticket_id=ticket.pk)
        ticket.refresh_from_db()
        return ticket

    return run
