from django.core.management.base import BaseCommand

from governance.demo import demo_catalog_load
from servicedesk.demo_org import PEOPLE, demo_org_load


class Command(BaseCommand):
    help = "Create or update the demo organisation, its directory and the action catalog. Safe to run again."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--password", default="demo", help="password for newly created demo users")

    def handle(self, *args, password: str, **options):  # type: ignore[no-untyped-def]
        created = demo_org_load(password=password)
        demo_catalog_load()
        if created:
            self.stdout.write(f"created {len(created)} demo users: {', '.join(created)}")
        self.stdout.write(
            self.style.SUCCESS(f"demo organisation ready ({len(PEOPLE)} people, catalog, directory)")
        )
