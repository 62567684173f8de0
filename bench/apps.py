from django.apps import AppConfig


class BenchConfig(AppConfig):
    """The benchmark and seeding commands (``bench_*``, ``seed_history``), out of the domain apps.
    No models; it stands above every app (``make bench`` runs them through ``manage.py``)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "bench"
    verbose_name = "Benchmarks and seeding"
