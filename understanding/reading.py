"""The local reading of a ticket: what is asked now, of what, for whom, in which language.

Steps, each with the field's tool for it:
 1. the sender's own new text (``email``: quoted history, forwarded mail, signature, disclaimer and
    auto-replies set aside);
 2. the language (``language``, lingua): the packaged models read English only, so another language
    is handed to a person with the language named;
 3. clauses from a dependency parse (``parse``), each with its speech act from a trained classifier
    (``speech``), corrected by the parse where embeddings are blind: a negated request verb is a
    cancellation, a removal verb a removal;
 4. catalog entities per clause, refusing near-miss names ("Acrobat Reader", "Tableau Server");
 5. the beneficiary of each request clause (``parse``).

The router then reads only the request clauses, and ``Reading`` says what may still be acted on.
"""

import re
from dataclasses import dataclass, field, replace

from understanding import email, language, parse, speech
from understanding.catalog import Catalog
from understanding.injection import without_injection
from understanding.types import Beneficiary, Polarity, Reading, SpeechAct

_CREDENTIAL_TERMS = {
    "reset_mfa": re.compile(r"\b(mfa|2fa|two[- ]factor|multi[- ]factor|authenticator|second factor)\b", re.I),
    "reset_password": re.compile(r"\b(pass ?words?|pw|pwd|passcode)\b", re.I),
    "unlock_account": re.compile(r"\b(unlock\w*|locked|lockout|lock(ed)? out)\b", re.I),
}

# "Found the right password in my notes", "I know my password": whatever else the ticket says, an
# unlock rather than a reset (the router's lexicon uses the same pattern).
KNOWS_PASSWORD = re.compile(
    r"\b((i |i've |i have )?found|i (do |still )?know|i remember(ed)?|i('ve| have) got) (my|the) "
    r"(right |correct |new |current )?pass ?word\b",
    re.IGNORECASE,
)
_ACT_ORDER = (speech.CANCEL, speech.REMOVE, speech.REPORT, speech.STATUS, speech.QUESTION, speech.FUTURE)
_TO_SPEECH_ACT = {
    speech.REQUEST: SpeechAct.REQUEST,
    speech.REMOVE: SpeechAct.REQUEST,
    speech.QUESTION: SpeechAct.QUESTION,
    speech.REPORT: SpeechAct.REPORT,
    speech.STATUS: SpeechAct.STATUS,
    speech.FUTURE: SpeechAct.FUTURE,
    speech.CANCEL: SpeechAct.CANCEL,
    speech.OTHER: SpeechAct.OTHER,
}


@dataclass(frozen=True)
class ClauseReading:
    text: str
    act: str
    probability: float
    other: str
    software: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    near_miss: tuple[str, ...] = ()
    credentials: tuple[str, ...] = ()  # credential actions the clause speaks of
    explicit: bool = False  # the parse shows a negated request verb or a removal verb

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text[:200],
            "act": self.act,
            "p": round(self.probability, 3),
            **({"for": self.other} if self.other else {}),
            **({"near_miss": list(self.near_miss)} if self.near_miss else {}),
        }


@dataclass(frozen=True)
class Prepared:
    """A ticket read locally: ``routed`` is the text the router sees (the request clauses)."""

    reading: Reading
    routed: str
    own_text: str
    clauses: tuple[ClauseReading, ...] = ()
    vetoed: frozenset[str] = field(default_factory=frozenset)  # actions / entities cancelled or removed
    queue_hint: str | None = None
    body: str = ""  # the own text without injected segments: what a chat model may read


def prepare_one(
    text: str,
    *,
    requester: str,
    catalog: Catalog,
    encode: speech.Encoder,
    classifier: speech.SpeechActClassifier,
) -> Prepared:
    return prepare_batch([text], [requester], catalog=catalog, encode=encode, classifier=classifier)[0]


@dataclass
class _Draft:
    """A ticket between the parse and the speech acts (which are classified for a batch at once)."""

    own_text: str
    body: str
    flags: list[str]
    code: str = "en"
    clauses: list[parse.Clause] = field(default_factory=list)
    writer: str = ""
    done: Prepared | None = None


def prepare_batch(
    texts: list[str] | tuple[str, ...],
    requesters: list[str] | tuple[str, ...],
    *,
    catalog: Catalog,
    encode: speech.Encoder,
    classifier: speech.SpeechActClassifier,
) -> list[Prepared]:
    """Many tickets with one embedding call for all their clauses; the same readings as one by one."""
    drafts = [_draft(text, requester, catalog) for text, requester in zip(texts, requesters, strict=True)]
    pending = [c for d in drafts for c in d.clauses]
    acts = classifier.classify(encode([masked(c.text, catalog) for c in pending])) if pending else []
    out: list[Prepared] = []
    start = 0
    for d in drafts:
        if d.done is not None:
            out.append(d.done)
            continue
        mine = acts[start : start + len(d.clauses)]
        start += len(d.clauses)
        clauses = [_clause_reading(c, act, catalog) for c, act in zip(d.clauses, mine, strict=True)]
        out.append(replace(_combine(clauses, d.own_text, d.flags, d.code, d.writer), body=d.body))
    return out


def _draft(text: str, requester: str, catalog: Catalog) -> _Draft:
    own = email.own_text(text)
    body, injected = without_injection(own.text)
    draft = _Draft(own.text, body, ["injection"] if injected else [])
    if own.auto_reply:
        draft.done = Prepared(Reading(SpeechAct.OTHER, flags=("auto_reply",)), "", own.text)
        return draft
    detected = language.detect(body)
    if not detected.english:
        reading = Reading(
            SpeechAct.OTHER,
            language=detected.code,
            flags=(*draft.flags, f"language:{detected.name}"),
            notes=(f"written in {detected.name}: the local models read English only",),
        )
        hint = language.queue_hint(body, detected.code)
        draft.done = Prepared(reading, "", own.text, queue_hint=hint, body=body)
        return draft
    people = catalog.people_index()
    draft.clauses = parse.read_clauses(body, people=people, requester=requester) if body.strip() else []
    draft.writer = parse.other_writer(body, people, requester)
    return draft


def masked(text: str, catalog: Catalog) -> str:
    """Catalog names replaced by neutral words, as in the classifier's training sentences: the act
    is in the phrasing, and a product name must not pull a clause towards one act."""
    return catalog.mask_entities(text)


def _clause_reading(clause: parse.Clause, act: speech.Act, catalog: Catalog) -> ClauseReading:
    label = act.label
    if clause.removal and label in (speech.REQUEST, speech.CANCEL):
        label = speech.REMOVE
    elif clause.negated and label in (speech.REQUEST, speech.OTHER, speech.FUTURE):
        label = speech.CANCEL
    elif clause.hedged and label == speech.REQUEST:
        label = speech.FUTURE
    software, misses = catalog.software_exact(clause.text)
    groups, group_misses = catalog.groups_exact(clause.text)
    return ClauseReading(
        clause.text,
        label,
        act.probability,
        clause.other,
        tuple(software),
        tuple(groups),
        tuple(misses + group_misses),
        tuple(a for a, rx in _CREDENTIAL_TERMS.items() if rx.search(clause.text)),
        clause.negated or clause.removal,
    )


def _vetoed(clauses: list[ClauseReading]) -> set[str]:
    """Entities and credential actions whose last mention cancels or removes them: "not X, I need
    Y" keeps Y, and "don't bother for the team, just add me to X" keeps X."""
    last: dict[str, str] = {}
    for c in clauses:
        negative = c.act in (speech.CANCEL, speech.REMOVE) and (c.explicit or c.probability >= 0.5)
        for x in (*c.software, *c.groups, *c.credentials):
            if negative or c.act == speech.REQUEST:
                last[x] = c.act
    return {x for x, act in last.items() if act != speech.REQUEST}


def _requests(clauses: list[ClauseReading]) -> list[ClauseReading]:
    """The request clauses; a vague request ("add me please") takes its object from a context
    clause that names a catalog entity."""
    requests = [c for c in clauses if c.act == speech.REQUEST]
    if requests and not any(c.software or c.groups or c.credentials for c in requests):
        context = [c for c in clauses if _context(c) and c not in requests]
        requests = context[-1:] + requests
    own = [c for c in requests if not c.other]
    # "my account's locked; also reset henry's password": the own request is read, the other flagged.
    # But when the other person's clause asks for the same thing ("locked out ... so her account can
    # be unlocked"), the clause without a name is about that person too.
    same = _things(own) & _things([c for c in requests if c.other])
    return requests if same or not own else own


def _things(clauses: list[ClauseReading]) -> set[str]:
    return {x for c in clauses for x in (*c.software, *c.groups, *c.credentials)}


def _context(c: ClauseReading) -> bool:
    """A statement that names what a vague request ("add me please") is about."""
    statement = c.act == speech.OTHER or (c.act == speech.QUESTION and not c.text.rstrip().endswith("?"))
    return statement and bool(c.software or c.groups or c.credentials)


def _combine(
    clauses: list[ClauseReading], own_text: str, flags: list[str], code: str, writer: str = ""
) -> Prepared:
    requests = _requests(clauses)
    vetoed = _vetoed(clauses)
    misses = tuple(m for c in requests for m in c.near_miss)
    flags = [*flags, *(f"near_miss:{m}" for m in misses)]
    about = requests or clauses  # nothing asked: still say whom the ticket is about, for staff
    others = [c.other for c in about if c.other] + ([writer] if writer else [])
    also = sorted({c.other for c in clauses if c.act == speech.REQUEST and c.other} - set(others))
    flags += [f"also_for:{who}" for who in also]
    if requests:
        act, polarity = SpeechAct.REQUEST, Polarity.ADD
    elif any(c.act == speech.REMOVE for c in clauses):
        act, polarity = SpeechAct.REQUEST, Polarity.REMOVE
    else:
        act = next(
            (_TO_SPEECH_ACT[a] for a in _ACT_ORDER if any(c.act == a for c in clauses)), SpeechAct.OTHER
        )
        polarity = Polarity.NONE
    reading = Reading(
        act,
        polarity,
        Beneficiary.OTHER if others else Beneficiary.SELF,
        beneficiary_detail=others[0] if others else "",
        evidence=tuple(c.text for c in requests)[:5],
        language=code,
        flags=tuple(flags),
        notes=tuple(_notes(act, polarity, others, misses)),
    )
    knows = [c for c in clauses if c not in requests and KNOWS_PASSWORD.search(c.text)]
    routed = ". ".join(c.text for c in [*requests, *knows])
    return Prepared(reading, routed, own_text, tuple(clauses), frozenset(vetoed))


def _notes(act: SpeechAct, polarity: Polarity, others: list[str], misses: tuple[str, ...]) -> list[str]:
    notes = []
    if act != SpeechAct.REQUEST:
        notes.append(f"not a present request ({act})")
    if polarity == Polarity.REMOVE:
        notes.append("a removal: the agent only adds")
    if others:
        notes.append(f"for {others[0]}, not the requester's own account")
    notes += [f"{m} is not in the catalog" for m in misses]
    return notes
