from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.audit_export import FORMATS, events_between, export_lines


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"{value!r} is not a date (use YYYY-MM-DD)") from error


class Command(BaseCommand):
    help = (
        "Export audit events created from --since to --until (both days included, in TIME_ZONE) "
        "as JSON lines or CSV, in id order."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--until", required=True, help="last day, YYYY-MM-DD (included)")
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument("--output", help="write to this file instead of standard output")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        since, until, fmt, output = options["since"], options["until"], options["format"], options["output"]
        first, last = _day(since), _day(until)
        if first > last:
            raise CommandError(f"--since {since} is after --until {until}")
        lines = export_lines(events_between(since=first, until=last), fmt)
        if output is None:
            for line in lines:
                self.stdout.write(line, ending="")
            return
        count = -1 if fmt == "csv" else 0  # the CSV header is not an event
        with open(output, "w", encoding="utf-8", newline="") as file:
            for line in lines:
                file.write(line)
                count += 1
        self.stderr.write(f"wrote {count} events to {output}")
