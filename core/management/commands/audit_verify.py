import sys

from django.core.management.base import BaseCommand

from core.audit import audit_verify


class Command(BaseCommand):
    help = (
        "Check the audit trail's hash chain. Exits 0 when every event links and matches its hash, "
        "1 naming the first bad event otherwise."
    )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        result = audit_verify()
        if result.ok:
            self.stdout.write(f"OK: {result.checked} events, head {result.head}")
            return
        self.stderr.write(
            f"FAIL: event {result.bad_event_id}: {result.problem}; "
            f"the {result.checked} events before it verify (last good hash {result.head})"
        )
        sys.exit(1)
