from pathlib import Path

import pytest

from config.database import parse_database_url
from config.env import ImproperlyConfiguredEnv, env_bool, env_int, env_list


def test_env_bool_reads_the_usual_spellings(monkeypatch):
    monkeypatch.setenv("FLAG", "Yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", True) is False
    monkeypatch.delenv("FLAG")
    assert env_bool("FLAG", True) is True


def test_env_bool_refuses_a_typo(monkeypatch):
    monkeypatch.setenv("FLAG", "ture")
    with pytest.raises(ImproperlyConfiguredEnv, match="FLAG='ture'"):
        env_bool("FLAG", False)


def test_env_int_refuses_non_numbers_and_values_below_minimum(monkeypatch):
    monkeypatch.setenv("N", "ten")
    with pytest.raises(ImproperlyConfiguredEnv, match="expected an integer"):
        env_int("N", 1)
    monkeypatch.setenv("N", "5")
    with pytest.raises(ImproperlyConfiguredEnv, match="at least 30"):
        env_int("N", 60, minimum=30)
    monkeypatch.setenv("N", "45")
    assert env_int("N", 60, minimum=30) == 45


def test_env_list_splits_and_trims(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example.com, b.example.com ,")
    assert env_list("HOSTS", []) == ["a.example.com", "b.example.com"]


def test_sqlite_url_relative_and_absolute():
    relative = parse_database_url("sqlite:///data/db.sqlite3", base_dir=Path("/srv/app"))
    assert relative["ENGINE"] == "django.db.backends.sqlite3"
    assert relative["NAME"] == "/srv/app/data/db.sqlite3"
    assert relative["TEST"]["NAME"] == "/srv/app/data/test_db.sqlite3"
    absolute = parse_database_url("sqlite:////var/lib/sd/db.sqlite3", base_dir=Path("/srv/app"))
    assert absolute["NAME"] == "/var/lib/sd/db.sqlite3"


def test_postgres_url_uses_psycopg_backend_with_credentials():
    config = parse_database_url(
        "postgres://sd:p%40ss@db.internal:5433/servicedesk?sslmode=require", base_dir=Path("/srv")
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"]) == ("servicedesk", "sd", "p@ss")
    assert (config["HOST"], config["PORT"]) == ("db.internal", "5433")
    assert config["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres://host/", "sqlite://"])
def test_unusable_database_urls_fail_loudly(url):
    with pytest.raises(ImproperlyConfiguredEnv, match="DATABASE_URL"):
        parse_database_url(url, base_dir=Path("/srv"))


def test_each_pool_process_gets_its_share_of_the_cores(monkeypatch, settings):
    """Two pool processes with every core each would oversubscribe the machine (make bench measured
    the router drain at half speed); unless a setting names a number, they split the cores."""
    from types import SimpleNamespace

    from agents.tasks import preload_embedding_libraries
    from config import cpu

    settings.AGENT_ENABLED = False  # record the count only; no library import
    monkeypatch.setattr(cpu, "cores", lambda: 4)
    monkeypatch.setattr(cpu, "_processes", 1)
    assert cpu.threads_per_process() == 4  # one process (the web, a command): every core
    preload_embedding_libraries(sender=SimpleNamespace(concurrency=2))  # the worker, before forking
    assert cpu.threads_per_process() == 2
    assert cpu.threads_per_process(3) == 3  # AGENT_LLM_THREADS / AGENT_TORCH_THREADS set: as set
    preload_embedding_libraries(sender=SimpleNamespace(concurrency=8))
    assert cpu.threads_per_process() == 1
