from django.core.management.base import BaseCommand, CommandParser

from workspace.corrections import evaluation_lines


class Command(BaseCommand):
    help = (
        "Export staff verdicts on the agent as evaluation rows in the agent_eval JSONL format "
        "(one row a verdict; split 'dev' unless told)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", help="write to this file instead of standard output")
        parser.add_argument("--wrong-only", action="store_true", help="only the verdicts 'agent was wrong'")
        parser.add_argument("--split", default="dev", choices=["dev", "test"])

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        lines = evaluation_lines(wrong_only=options["wrong_only"], split=options["split"])
        if options["output"] is None:
            for line in lines:
                self.stdout.write(line, ending="")
            return
        count = 0
        with open(options["output"], "w", encoding="utf-8") as file:
            for line in lines:
                file.write(line)
                count += 1
        self.stderr.write(f"{count} rows written to {options['output']}")
