from django.core.management.base import BaseCommand, CommandParser

from bench import queue_load as bench


class Command(BaseCommand):
    help = (
        "Time the staff queue pages (server time, whole Django stack) with a backlog of open tickets "
        "created in a transaction that is rolled back afterwards."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tickets", type=int, default=10_000)
        parser.add_argument("--repeat", type=int, default=7, help="timed requests per page")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        bench.run(tickets=options["tickets"], repeat=options["repeat"], report=self.stdout.write)
