"""The embedding router: the request clauses of a ticket -> act / ask / escalate, with candidates,
parameters and a queue. Deterministic, no LLM. It decides what the planner (and so the LLM) may
choose from: the LLM never sees a tool the router did not allow.

It reads what ``understanding.reading`` left of the ticket (a present request for the requester's
own account, injection removed), normalises abbreviations, embeds it (all-MiniLM-L6-v2), scores each
catalog action against its examples (``anchors``, the catalog's own examples, and templates filled
with every software and group name and alias) and the out-of-scope anchors, reads the parameters by
exact catalog names (near misses refused), and decides with thresholds and the gates of ``lexicon``:
a credential action needs its own vocabulary, an entity action a request for the entity.

The result is a proposal only: governance still applies tiers, approvals and protected accounts.
The router nevertheless refuses what the catalog says the agent never does (privileged groups,
other people's accounts), so a policy bug alone cannot turn those into actions.
"""

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from agents.anchors import (
    GENERIC_ACTION_EXAMPLES,
    GROUP_TEMPLATES,
    OUT_OF_SCOPE,
    QUEUE_ONLY,
    SOFTWARE_TEMPLATES,
)
from agents.lexicon import (
    _ALREADY_RESET,
    _DISCLOSE,
    _EVIDENCE,
    _INSTALL_WORDS,
    _LOGIN_PROBLEM,
    _REQUEST_INTENT,
    _RESET_WORDS,
    _STATE,
    _TERSE,
    _THIRD_PARTY_RE,
    _UNINSTALL,
    _UNLOCK_WORDS,
    GRANT,
    INSTALL,
    MFA,
    RESET,
    UNLOCK,
    is_vague,
    prepare_text,
)
from config.cpu import threads_per_process
from understanding.catalog import PRIVILEGED, Catalog, catalog_load
from understanding.reading import KNOWS_PASSWORD
from understanding.speech import SpeechActClassifier

logger = logging.getLogger(__name__)

ACT, ASK, ESCALATE = "act", "ask", "escalate"
CREDENTIAL_ACTIONS = (RESET, UNLOCK, MFA)
QUEUES = ("accounts-access", "software", "hardware", "network", "general")

Encoder = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Thresholds:
    top_k: int = 3  # top-k mean over the examples of one class
    act: float = 0.55  # minimum action score to act
    act_margin_oos: float = 0.02  # action score - out-of-scope score, to act
    act_margin_pair: float = 0.03  # best - second-best action score, to act
    ask: float = 0.45  # below this (or not above the out-of-scope score): escalate
    # A catalog entity (software, group) named in the text is strong evidence, so the embedding
    # may be a little weaker; only together with an explicit request for it (see the gates).
    act_with_entity: float = 0.45
    act_margin_oos_entity: float = 0.02
    queue_min: float = 0.30  # below this no team fits: General


@dataclass(frozen=True)
class Candidate:
    action: str
    score: float
    params: dict[str, str] = field(default_factory=dict)
    allowed: bool = False  # passed the gates: the planner may offer it as a tool
    note: str = ""


@dataclass(frozen=True)
class RouterResult:
    band: str  # act | ask | escalate
    action: str | None = None  # the best candidate (the one to act on when band == act)
    params: dict[str, str] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    out_of_scope: float = 0.0
    queue: str = "general"
    injection: bool = False
    missing: str = ""  # what a question should ask for: group | software | reset_or_unlock | details
    text: str = ""  # the routed text: injection-like segments removed, abbreviations expanded
    seconds: float = 0.0

    @property
    def allowed(self) -> list[Candidate]:
        return [c for c in self.candidates if c.allowed]

    def to_dict(self) -> dict[str, Any]:
        """JSON for AgentRun.router and the audit trail (the routed text is not repeated there)."""
        data = asdict(self)
        data.pop("text")
        data["candidates"] = [
            {**asdict(c), "score": round(c.score, 4)} for c in sorted(self.candidates, key=lambda c: -c.score)
        ]
        data["out_of_scope"] = round(self.out_of_scope, 4)
        data["reasons"] = list(self.reasons)
        data["seconds"] = round(self.seconds, 4)
        return data


# --- the router --------------------------------------------------------------------------------


def action_examples(catalog: Catalog) -> dict[str, list[str]]:
    """Every example sentence of every catalog action: generic, from the database, generated."""
    examples: dict[str, list[str]] = {}
    for action in catalog.actions:
        found = list(GENERIC_ACTION_EXAMPLES.get(action.code, []))
        found += list(action.examples)
        if action.description.strip():
            found.append(action.description.strip())
        if action.code == INSTALL:
            forms = [f for fs in catalog.software_forms().values() for f in fs]
            found += [t.format(name=f) for f in forms for t in SOFTWARE_TEMPLATES]
        elif action.code == GRANT:
            forms = [f for fs in catalog.group_forms().values() for f in fs]
            found += [t.format(name=f) for f in forms for t in GROUP_TEMPLATES]
        examples[action.code] = list(dict.fromkeys(found))
    return examples


class Router:
    def __init__(self, encode: Encoder, catalog: Catalog, thresholds: Thresholds | None = None):
        """``encode(texts)`` must return L2-normalised embeddings of shape (n, d)."""
        self.encode = encode
        self.catalog = catalog
        self.t = thresholds or Thresholds()
        self.examples = action_examples(catalog)
        self.actions = [a.code for a in catalog.actions if self.examples.get(a.code)]
        self._action_emb = {a: encode(self.examples[a]) for a in self.actions}
        oos = [s for q in QUEUES for s in OUT_OF_SCOPE.get(q, [])]
        self._oos_emb = encode(oos)
        self._queue_emb = {q: encode(OUT_OF_SCOPE.get(q, []) + QUEUE_ONLY.get(q, [])) for q in QUEUES}
        self.speech = SpeechActClassifier(encode)

    # scores ----------------------------------------------------------------------------------
    def _topk(self, sims: np.ndarray) -> float:
        k = min(self.t.top_k, sims.shape[-1])
        return float(np.sort(sims)[-k:].mean())

    def scores(self, emb: np.ndarray) -> dict[str, float]:
        return {a: self._topk(self._action_emb[a] @ emb) for a in self.actions}

    def _queue_for(self, emb: np.ndarray) -> str:
        scores = {q: self._topk(e @ emb) for q, e in self._queue_emb.items() if e.shape[0]}
        best = max(scores, key=lambda q: scores[q])
        return best if scores[best] >= self.t.queue_min else "general"

    # routing ---------------------------------------------------------------------------------
    def route(self, text: str, requester: str) -> RouterResult:
        return self.route_batch([text], [requester])[0]

    def route_batch(
        self, texts: Sequence[str], requesters: Sequence[str], understood: Sequence[bool] | None = None
    ) -> list[RouterResult]:
        """One batched embedding call for many tickets; each result carries its share of the time.

        ``understood[i]``: the text is already the request clauses of a ticket whose reading found
        a present request for the requester's own account (``understanding``), so the
        router's own request-intent and third-party gates are not applied again."""
        t0 = time.perf_counter()
        prepared = [prepare_text(t) for t in texts]
        embs = self.encode([clean or "-" for clean, _ in prepared])
        flags = list(understood) if understood is not None else [False] * len(texts)
        results = []
        for (clean, injection), emb, requester, known in zip(prepared, embs, requesters, flags, strict=True):
            t1 = time.perf_counter()
            if clean:
                result = self._decide(clean, injection, emb, requester, known)
            else:
                reason = "only injection-like text" if injection else "empty ticket"
                result = RouterResult(band=ESCALATE, reasons=(reason,), injection=injection)
            results.append(replace(result, seconds=time.perf_counter() - t1))
        shared = (time.perf_counter() - t0 - sum(r.seconds for r in results)) / max(len(results), 1)
        return [replace(r, seconds=r.seconds + shared) for r in results]

    def _decide(
        self, clean: str, injection: bool, emb: np.ndarray, requester: str, understood: bool = False
    ) -> RouterResult:
        if not self.actions:
            reasons = ("the catalog has no actions",)
            return RouterResult(ESCALATE, reasons=reasons, queue=self._queue_for(emb), injection=injection)
        sc = self.scores(emb)
        oos = self._topk(self._oos_emb @ emb)
        best, second, tie_broken = self._rank(clean, sc)
        gated = {a: self._gate(a, clean, injection, requester, understood) for a in self.actions}
        candidates = tuple(
            Candidate(
                a,
                sc[a],
                gated[a][0],
                allowed=gated[a][1] == "" and self._plausible(a, sc, oos),
                note=gated[a][1],
            )
            for a in self.actions
        )
        base = RouterResult(
            band=ESCALATE,
            action=best,
            candidates=candidates,
            out_of_scope=oos,
            queue=self._action_queue(best),
            injection=injection,
            text=clean,
        )
        s_best = sc[best]
        if s_best < self.t.ask or s_best <= oos:
            return replace(base, action=None, reasons=("out of scope",), queue=self._queue_for(emb))
        params, note = gated[best]
        if note:
            return self._refused(base, best, note, clean)
        entity = bool(params)
        t = self.t
        need, margin = (t.act_with_entity, t.act_margin_oos_entity) if entity else (t.act, t.act_margin_oos)
        separated = entity or tie_broken or s_best - sc[second] >= t.act_margin_pair
        if s_best >= need and s_best - oos >= margin and separated:
            return replace(base, band=ACT, params=params, reasons=("confident",))
        missing = "reset_or_unlock" if {best, second} == {RESET, UNLOCK} and not separated else "details"
        reason = f"unsure: {best} {s_best:.2f} vs {second} {sc[second]:.2f} / out of scope {oos:.2f}"
        return replace(base, band=ASK, params=params, reasons=(reason,), missing=missing)

    def _plausible(self, action: str, sc: dict[str, float], oos: float) -> bool:
        return sc[action] >= self.t.ask and sc[action] > oos

    def _rank(self, clean: str, sc: dict[str, float]) -> tuple[str, str, bool]:
        """Best and second action; a named catalog entity may promote grant/install when close."""
        t = self.t
        ranked = sorted(self.actions, key=lambda a: sc[a], reverse=True)
        best, second = ranked[0], ranked[1] if len(ranked) > 1 else ranked[0]
        if best not in (GRANT, INSTALL):
            entities = ((INSTALL, self.catalog.find_software), (GRANT, self.catalog.find_groups))
            for action, find in entities:
                close = sc.get(action, 0.0) >= max(sc[best] - t.act_margin_pair, t.act_with_entity)
                if close and find(clean) and _REQUEST_INTENT[action].search(clean):
                    best, second = action, ranked[0] if ranked[0] != action else ranked[1]
                    break
        if best == RESET and KNOWS_PASSWORD.search(clean) and sc.get(UNLOCK, 0.0) >= t.ask:
            best, second = UNLOCK, RESET
            return best, second, True
        # reset_password and unlock_account are near neighbours: explicit words decide a close call
        if {best, second} == {RESET, UNLOCK} and abs(sc[best] - sc[second]) < t.act_margin_pair:
            if _RESET_WORDS.search(clean):
                return RESET, UNLOCK, True
            if _UNLOCK_WORDS.search(clean):
                return UNLOCK, RESET, True
        return best, second, False

    def _gate(
        self, action: str, clean: str, injection: bool, requester: str, understood: bool = False
    ) -> tuple[dict[str, str], str]:
        """(parameters, refusal note); an empty note means the action may be offered."""
        info = self.catalog.action(action)
        if info is None or not info.enabled:
            return {}, f"{action} is disabled in the catalog"
        others = [] if understood else self.catalog.other_people(clean, requester)
        if others or (not understood and _THIRD_PARTY_RE.search(clean)):
            return {}, "about another person" + (f" ({', '.join(others)})" if others else "")
        if action in (GRANT, INSTALL):
            return self._entity_gate(action, clean, understood)
        if action not in _EVIDENCE or not _EVIDENCE[action].search(clean):
            return {}, f"no lexical evidence for {action}"
        if injection:
            return {}, f"{action} requested alongside injection-like text"
        if action == RESET and _DISCLOSE.search(clean):
            return {}, "asks to be told a password: the agent only sends reset links"
        if action == RESET and KNOWS_PASSWORD.search(clean):
            return {}, "the requester knows the password: an unlock, not a reset"
        if action == RESET and _ALREADY_RESET.search(clean):
            return {}, "password already changed: troubleshooting, not a reset"
        return {}, ""

    def _entity_gate(self, action: str, clean: str, understood: bool = False) -> tuple[dict[str, str], str]:
        if action == INSTALL and _UNINSTALL.search(clean):
            return {}, "removal request: not a catalog action"
        if action == INSTALL:
            found, misses = self.catalog.software_exact(clean)
        else:
            found, misses = self.catalog.groups_exact(clean)
        kind = "software" if action == INSTALL else "group"
        if len(found) > 1:
            return {}, f"several {kind} names: {', '.join(found)}"
        if not found:
            near = f" ({', '.join(misses)} is not in the catalog)" if misses else ""
            return {}, f"no catalog {kind} named{near}"
        asked = _STATE.sub(" ", clean)  # "Zoom is installed but ..." does not ask for Zoom
        terse = understood and _TERSE.search(asked)
        if not _REQUEST_INTENT[action].search(asked) and not terse:
            return {}, f"{found[0]} is named but not requested"
        if action == GRANT:
            group = self.catalog.group(found[0])
            if group is not None and group.tier == PRIVILEGED:
                return {}, f"{found[0]} is a privileged group: a person decides"
            return {"group": found[0]}, ""
        return {"software": found[0]}, ""

    def _refused(self, base: RouterResult, action: str, note: str, clean: str) -> RouterResult:
        """The best action failed a gate. A vague request ("I need access") gets a question."""
        if note.startswith("no catalog"):
            if _REQUEST_INTENT[action].search(clean) and is_vague(clean):
                missing = "software" if action == INSTALL else "group"
                return replace(base, band=ASK, reasons=(f"which {missing}? {note}",), missing=missing)
            if action == GRANT and _INSTALL_WORDS.search(clean):  # "install <unknown package>"
                base = replace(base, queue=self._action_queue(INSTALL))
        if action in (RESET, UNLOCK) and note.startswith("no lexical") and _LOGIN_PROBLEM.search(clean):
            return replace(base, band=ASK, reasons=(f"login problem: {note}",), missing="reset_or_unlock")
        return replace(base, band=ESCALATE, reasons=(note,))

    def _action_queue(self, action: str) -> str:
        info = self.catalog.action(action)
        return info.queue if info and info.queue in QUEUES else "general"


# --- one router per worker process -------------------------------------------------------------

_lock = threading.Lock()
_embedders: dict[str, Encoder] = {}
_router: Router | None = None


def load_encoder(model: str, batch_size: int = 64) -> Encoder:
    """A sentence-transformers encoder (offline: the packaged model needs no network)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(model, device="cpu")

    def encode(texts: Sequence[str]) -> np.ndarray:
        return np.asarray(
            st.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        )

    return encode


def get_encoder() -> Encoder:
    from django.conf import settings

    model = str(settings.EMBEDDING_MODEL)
    with _lock:
        if model not in _embedders:
            import torch

            torch.set_num_threads(threads_per_process(settings.AGENT_TORCH_THREADS))
            t0 = time.perf_counter()
            _embedders[model] = load_encoder(model, batch_size=settings.AGENT_EMBED_BATCH_SIZE)
            logger.info("embedding model %s loaded in %.1fs", model, time.perf_counter() - t0)
        return _embedders[model]


def get_router(catalog: Catalog | None = None) -> Router:
    """The process's router, rebuilt when the catalog (actions, groups, software, people) changes.

    Thread-safe: building happens under a lock and the old router stays valid for callers that
    already hold it.
    """
    global _router
    catalog = catalog or catalog_load()
    encode = get_encoder()
    with _lock:
        if _router is None or _router.catalog.key != catalog.key or _router.encode is not encode:
            t0 = time.perf_counter()
            _router = Router(encode, catalog)
            logger.info("router built in %.1fs (catalog %s)", time.perf_counter() - t0, catalog.key[:12])
        return _router
