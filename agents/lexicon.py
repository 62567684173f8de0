"""The router's lexicon: abbreviations, the vocabulary that is evidence for each credential action,
what counts as asking for a catalog entity, and the words that name no object (a vague request).

These encode what the catalog means, not the evaluation rows; the reading of speech act, negation,
beneficiary and near-miss names lives in ``understanding``.
"""

import re

from understanding.injection import is_injection, split_segments

GRANT, INSTALL = "grant_group_access", "install_software"
RESET, UNLOCK, MFA = "reset_password", "unlock_account", "reset_mfa"


_THIRD_PARTY_RE = re.compile(
    r"\b(colleague|co-?worker|team ?mate|team member|new hire|new starter|intern|contractor|"
    r"my (boss|manager|assistant|employee|report)|someone else|another user|other users?)s?\b"
    r"|\b(his|her|their)\s+(account|password|login|mfa|laptop|computer|machine|access|phone)\b"
    r"|\bfor (him|her|them)\b",
    re.IGNORECASE,
)

_ABBREVIATIONS = [
    (r"\bpwd\b|\bpw\b|\bpasswd\b|\bpassowrd\b|\bpasword\b", "password"),
    (r"\bpls\b|\bplz\b", "please"),
    (r"\bacct\b", "account"),
    (r"\b2fa\b|\b2-fa\b", "two-factor authentication (MFA)"),
    (r"\bu\b", "you"),
]

_EVIDENCE = {
    # the requester's own credential plus a reset-like need; "tell me the password" is not one
    RESET: re.compile(
        r"(?=.*\b(pass ?words?|passcode|passphrase|credentials?)\b)"
        r"(?=.*\b(my|mine|own|i|i'm|reset|forgot|forgotten|expired?|recover\w*|restor\w*|retriev\w*|"
        r"lost|change|new|remember)\b)",
        re.IGNORECASE | re.DOTALL,
    ),
    # a lock word plus an IT object: "locked out of my car" is not an account lockout
    UNLOCK: re.compile(
        r"\b(unlock|unblock) me\b|"  # a person is unlocked only through their account
        r"(?=.*\b(locked|lockout|unlock|lock(ed)? out|lock)\b)"
        r"(?=.*\b(account|accounts|login|log ?in|sign ?in|user|username|windows|laptop|computer|pc|domain|"
        r"password|attempts?|tries|email|outlook|system|network)\b)",
        re.IGNORECASE | re.DOTALL,
    ),
    MFA: re.compile(
        r"\bmfa\b|two[- ]factor|multi[- ]factor|2fa|authenticator|\botp\b|security key|second factor",
        re.IGNORECASE,
    ),
}

# A request for the entity itself. A catalog name in the text is evidence of *which* package or
# group, not that the requester wants it installed or granted ("sign me up for the Slack forum").
_REQUEST_INTENT = {
    INSTALL: re.compile(
        r"\b(install\w*|set ?up|setup|set me up|deploy\w*|download\w*|get|getting|need|needs|needed|"
        r"ask (you )?for|want|wanted|would like|i'd like|like to have|have|request\w*|licen[cs]e\w*|seat|"
        r"provide|give|put|access to|assign\w*)\b",
        re.IGNORECASE,
    ),
    GRANT: re.compile(
        r"\b(access|add|added|adding|join|joining|member\w*|permissions?|rights|grant\w*|need|needs|"
        r"want|would like|i'd like|request\w*|get|give|enable|allow\w*|enrol\w*|enroll\w*|sign me up|"
        r"put me|include me|make me|become|(can|could|may) i be|missing|ask (you )?for|"
        r"never (got|been added|added)|(was|been) never added|not a member|lost (my )?access)\b",
        re.IGNORECASE,
    ),
}

# A terse request is a catalog name and a courtesy ("vscode pls", "Zoom would be great"); only in
# a clause the reading already found to be a present request.
_TERSE = re.compile(
    r"\b(please|pls|plz|thx|asap|would be (great|good|helpful|handy|lovely)|for me)\b|🙏", re.IGNORECASE
)
# ... but a sentence about the state of the thing ("Zoom is installed but ...") asks for nothing.
_STATE = re.compile(
    r"\b(is|are|was|were|has been|have been)\s+(already\s+)?(installed|working|running|set up|enabled)\b",
    re.IGNORECASE,
)
# the requester already changed it: a sync/troubleshooting issue, not a reset request
_ALREADY_RESET = re.compile(
    r"\b(i|i've|i have)\s+(already\s+|just\s+)?(reset|changed|updated)\s+(my|the)\s+password\b"
    r"|\bpassword (was|has been) (just |already )?(reset|changed)\b",
    re.IGNORECASE,
)
_UNINSTALL = re.compile(
    r"\b(uninstall|un-install|remove|removal|delete|deinstall|get rid of)\b", re.IGNORECASE
)
_RESET_WORDS = re.compile(
    r"\b(reset|forgot|forgotten|expired?|new password|can'?t remember|lost)\b", re.IGNORECASE
)
_UNLOCK_WORDS = re.compile(r"\b(unlock|locked|lockout|lock(ed)? out)\b", re.IGNORECASE)
# "I can't log in" names neither the password nor a lockout: ask which of the two it is.
_LOGIN_PROBLEM = re.compile(r"\b(log ?in|logon|sign ?in|get in|access my account)\b", re.IGNORECASE)
_INSTALL_WORDS = re.compile(r"\b(install\w*|licen[cs]e\w*|download\w*|deploy\w*)\b", re.IGNORECASE)

# Words that do not name an object: a request made only of these ("I need access", "can you
# install something for me") is vague, so the agent asks which group or package is meant.
_VAGUE_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "i'm",
        "im",
        "me",
        "my",
        "mine",
        "we",
        "our",
        "us",
        "you",
        "your",
        "can",
        "could",
        "would",
        "will",
        "please",
        "pls",
        "kindly",
        "need",
        "needs",
        "want",
        "like",
        "get",
        "give",
        "have",
        "has",
        "had",
        "be",
        "been",
        "is",
        "am",
        "are",
        "to",
        "for",
        "of",
        "on",
        "in",
        "at",
        "with",
        "and",
        "or",
        "some",
        "any",
        "something",
        "someone",
        "access",
        "accesses",
        "permission",
        "permissions",
        "rights",
        "right",
        "group",
        "groups",
        "membership",
        "member",
        "install",
        "installed",
        "installing",
        "installation",
        "software",
        "program",
        "programs",
        "application",
        "applications",
        "app",
        "apps",
        "tool",
        "tools",
        "licence",
        "license",
        "new",
        "request",
        "requesting",
        "requested",
        "add",
        "added",
        "grant",
        "it",
        "this",
        "that",
        "thing",
        "things",
        "help",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "do",
        "does",
        "just",
        "also",
        "too",
        "there",
        "here",
        "set",
        "up",
        "setup",
        "use",
        "using",
        "laptop",
        "computer",
        "machine",
        "pc",
        "device",
        "work",
        "job",
        "now",
        "asap",
        "today",
        "urgent",
        "urgently",
    ]
)


def normalise(text: str) -> str:
    for pattern, repl in _ABBREVIATIONS:
        text = re.sub(pattern, repl, text, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", text).strip()


def prepare_text(text: str) -> tuple[str, bool]:
    """(routed text, whether injection-like segments were removed)."""
    segments = split_segments(text)
    clean = [s for s in segments if not is_injection(s)]
    return normalise(" ".join(clean)), len(clean) < len(segments)


def is_vague(text: str) -> bool:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return not [w for w in words if w not in _VAGUE_WORDS]


# Asking to be told a password is never a reset: the agent only ever sends a one-time reset link.
_CREDENTIAL_NOUNS = (
    r"(pass ?words?|passcodes?|pass ?phrases?|secrets?|magic word|secret word)\b(?!\s*(reset|link|change))"
)
_DISCLOSE = re.compile(
    "|".join(
        [
            r"\b(tell|give|show|send|provide|display)\s+(me|us)\b[^.?!]{0,20}\b(the|your|its|a)\s+"
            + _CREDENTIAL_NOUNS,
            r"\b(print|spell|reveal|share|repeat|list|write out|type out)\b[^.?!]{0,20}\b(the|your|its)\s+"
            + _CREDENTIAL_NOUNS,
            r"\bwhat('?s| is| are)\s+(the|your)\s+(pass ?words?|secrets?|passcodes?)\b",
            # "your password" in a ticket is the agent's or IT's, never the requester's own
            r"\byour\s+(pass ?words?|passcodes?|pass ?phrases?)\b",
        ]
    ),
    re.IGNORECASE,
)
