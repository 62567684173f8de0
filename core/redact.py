"""Secrets people type into tickets, masked before the text reaches the router, a prompt or a log.

Requesters paste passwords ("my password is Hunter2!, please unlock me"), PINs, API keys and even
private keys into tickets. The ticket keeps what was written (staff may need it, and it is the
record), but the agent never needs the secret itself: ``redact`` replaces each value with a marker
such as ``[redacted password]`` and keeps the words around it, so "I forgot my password" or "please
reset my password" read exactly as before.

A stated password is recognised by its phrasing (a credential word, then "is", "was", ":", "=" ...)
and then by the value: an ordinary word that describes the password ("my password is expired",
"... is not working") is not a secret and stays. Key- and token-shaped strings are recognised by
their shape wherever they appear, and so is a password written bare when it mixes lower and upper
case, digits and a symbol inside it ("here: Xk3#pq9!zL"). One whose only symbol is its last
character ("Summer2024!") is caught after "I typed", "tried" or "entered", or after a "password is"
lead-in; written bare anywhere else, it reads like "Office365!" and stays. ``redact`` is idempotent.
"""

import logging
import re
from collections.abc import Iterable

PASSWORD_MARK = "[redacted password]"  # noqa: S105 - a marker, not a password
PIN_MARK = "[redacted PIN]"
KEY_MARK = "[redacted key]"
PRIVATE_KEY_MARK = "[redacted private key]"

# A quoted value, or one run of non-space characters with a letter or digit in it.
_VALUE = (
    r"(?P<value>\"[^\"\n]{1,200}\"|'[^'\n]{1,200}'|`[^`\n]{1,200}`"
    r"|(?=[^\s\"'`]*[A-Za-z0-9])[^\s\"'`]{1,200})"
)

_CREDENTIAL_WORDS = (
    r"pass ?words?|passwd|pwd|pw|pass ?phrases?|pass ?codes?|credentials?|log ?in password|"
    r"(?:one[- ]time|temporary|temp|new|old|current|initial|default) (?:password|passcode|pin)"
)
# "my password is X", "password: X", "the password for the VPN is X", "pw = X", "passcode X1".
_PASSWORD = re.compile(
    rf"\b(?P<lead>(?:{_CREDENTIAL_WORDS})"
    # "... for my laptop", "... to the wiki"
    r"(?:[ \t]+(?:for|of|on|to)[ \t]+(?:the[ \t]+|my[ \t]+)?[\w@-]+(?:[ \t]+[\w@-]+)?)?"
    r"(?:[ \t]+(?:is|was|is now|was set to|will be|should be|reads)\b[ \t]*[:=]?|[ \t]*[:=]|[ \t]+-[ \t])"
    r"[ \t]*)" + _VALUE,
    re.IGNORECASE,
)
# "PIN 4821", "pin is 0000", "PIN: 12345678": a PIN is digits; "the pin is bent" is hardware.
_PIN = re.compile(
    r"\b(?P<lead>(?:pin(?: code| number)?|passcode)(?:[ \t]+(?:is|was|is now)\b|[ \t]*[:=]|[ \t]*#)?[ \t]*)"
    r"(?P<value>\d{4,12})\b",
    re.IGNORECASE,
)
# "api key: X", "token = X", "client secret is X": the value must look generated (has a digit).
_NAMED_SECRET = re.compile(
    r"\b(?P<lead>(?:api[_ -]?key|apikey|access[_ -]?key(?:[_ -]?id)?|secret[_ -]?(?:access[_ -]?)?key|"
    r"client[_ -]?secret|auth[_ -]?token|access[_ -]?token|refresh[_ -]?token|bearer token|token|secret)"
    r"(?:\s+(?:is|was)\b|\s*[:=])\s*)"
    r"(?P<value>[\"'`]?[A-Za-z0-9_\-./+=]*\d[A-Za-z0-9_\-./+=]*[\"'`]?)",
    re.IGNORECASE,
)
# Strings that are secrets by their shape alone.
_KEY_SHAPES = re.compile(
    "|".join(
        [
            r"\bsk-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_\-]{16,}",  # OpenAI, Anthropic, Stripe
            r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key id
            r"\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bgithub_pat_[A-Za-z0-9_]{30,}",  # GitHub
            r"\bglpat-[A-Za-z0-9_\-]{20,}",  # GitLab
            r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",  # Slack
            r"\bAIza[0-9A-Za-z_\-]{35}\b",  # Google
            r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # a JWT
            r"(?<=\bBearer )[A-Za-z0-9._~+/\-]{16,}=*",  # an Authorization header value
            # a long generated string: mixed case and digits, no spaces (hex ids and words stay)
            r"(?<![\w/.])(?=[A-Za-z0-9_\-+/]*[a-z])(?=[A-Za-z0-9_\-+/]*[A-Z])(?=[A-Za-z0-9_\-+/]*\d)"
            r"[A-Za-z0-9_\-+/]{32,}={0,2}(?![\w/])",
        ]
    )
)
# A password written bare, with no "password is" before it: one run of 8-64 characters with lower
# case, upper case, a digit and a symbol inside it (not only at its end: "Office365!" is a name and an
# exclamation). Addresses and links are not passwords.
_TOKEN = r"[^\s\"'`]"  # noqa: S105 - a regex, not a password
_MIXED = rf"(?={_TOKEN}*[a-z])(?={_TOKEN}*[A-Z])(?={_TOKEN}*\d)"
_SYMBOL = r"[!@#$%^&*+=?~|<>]"
_NOT_ADDRESS = rf"(?!{_TOKEN}*(?://|@{_TOKEN}*\.[A-Za-z]))"
_BARE_PASSWORD = re.compile(
    rf"(?P<lead>)(?<![^\s\"'`(\[])(?![(\[]){_MIXED}(?={_TOKEN}*{_SYMBOL}{_TOKEN}){_NOT_ADDRESS}"
    rf"(?P<value>{_TOKEN}{{8,64}})(?!{_TOKEN})"
)
# After "I typed", "tried", "entered": there the symbol may be the last character ("Summer2024!").
_TYPED_PASSWORD = re.compile(
    r"(?P<lead>\b(?i:typed|typing|entered|entering|tried|trying)(?:[ \t]+in)?[ \t]+)"
    rf"{_MIXED}(?={_TOKEN}*{_SYMBOL}){_NOT_ADDRESS}(?P<value>{_TOKEN}{{8,64}})(?!{_TOKEN})"
)
_URL_CREDENTIALS = re.compile(r"(?P<lead>\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:)(?P<value>[^\s@/]+)(?=@)", re.I)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY"
    r"(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)

# Words that say something about a password rather than being one: "my password is expired",
# "... is not working", "... was reset yesterday". Also -ed, -ing and -ly words (see _describes).
_DESCRIBING = frozenset(
    re.findall(
        r"[a-z]+",
        """
        a an the my your our their this that it its not no never now still already also just only
        too so very really quite always again yet even probably definitely apparently suddenly
        wrong incorrect invalid expired expiring locked blocked broken stuck lost forgotten gone old new
        same different correct right fine ok okay good bad weak strong short long simple complex easy
        hard required mandatory due about going supposed valid out in on off up down missing empty
        blank unknown urgent reset changed set saved stored accepted rejected refused compromised
        leaked working failing case sensitive being been there here what which who why when where how
        and or but if because since for from with without of to at by as please help thanks thank
        tied linked synced i me you he she we they them someone something anything nothing
        """,
    )
)
_WORDS = re.compile(r"[A-Za-z]+")
_TYPOGRAPHIC_QUOTES = "\u201c\u201d\u2018\u2019\u00ab\u00bb"


def _describes(value: str) -> bool:
    """An ordinary lower-case word about the password ("expired", "not", "probably"), a placeholder
    ("[password]", "<password>") or a stub too short to be one: not a secret."""
    word = value.strip("\"'`" + _TYPOGRAPHIC_QUOTES)
    if len(word) < 3 or (word[:1] in "[<{(" and word[-1:] in "]>})"):
        return True
    if not _WORDS.fullmatch(word) or word != word.lower():
        return False
    return word in _DESCRIBING or word.endswith(("ed", "ing", "ly"))


def _split_trailing(value: str) -> tuple[str, str]:
    """Sentence punctuation after an unquoted value ("is hunter2, please") stays in the text."""
    if value[:1] in "\"'`":
        return value, ""
    core = value.rstrip(".,;:)]" + _TYPOGRAPHIC_QUOTES)
    return (core, value[len(core) :]) if core else (value, "")


def _password(match: re.Match[str]) -> str:
    value, trailing = _split_trailing(match["value"])
    if value.startswith("[redacted") or _describes(value) or _describes(match["value"]):
        return match[0]
    return f"{match['lead']}{PASSWORD_MARK}{trailing}"


def _named_secret(match: re.Match[str]) -> str:
    value, trailing = _split_trailing(match["value"])
    if len(value.strip("\"'`")) < 8:
        return match[0]
    return f"{match['lead']}{KEY_MARK}{trailing}"


def redact(text: str, *, also: Iterable[str] = ()) -> str:
    """``text`` with stated passwords, PINs, keys, tokens and private keys replaced by markers.

    ``also``: exact strings to mask wherever they appear (e.g. this installation's own secrets).
    """
    if not text:
        return text
    for secret in sorted({s for s in also if s and len(s) >= 6}, key=len, reverse=True):
        text = text.replace(secret, KEY_MARK)
    text = _PRIVATE_KEY.sub(PRIVATE_KEY_MARK, text)
    text = _KEY_SHAPES.sub(KEY_MARK, text)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['lead']}{PASSWORD_MARK}", text)
    text = _NAMED_SECRET.sub(_named_secret, text)
    text = _PIN.sub(lambda m: f"{m['lead']}{PIN_MARK}", text)
    text = _PASSWORD.sub(_password, text)
    text = _TYPED_PASSWORD.sub(_shaped_password, text)
    return _BARE_PASSWORD.sub(_shaped_password, text)


def _shaped_password(match: re.Match[str]) -> str:
    _, trailing = _split_trailing(match["value"])
    return f"{match['lead']}{PASSWORD_MARK}{trailing}"


def configured_secrets() -> list[str]:
    """This installation's own secrets, which no text shown or logged should ever carry."""
    from django.conf import settings

    names = ("SECRET_KEY", "AGENT_LLM_API_KEY", "LDAP_BIND_PASSWORD")
    return [value for name in names if isinstance(value := getattr(settings, name, ""), str) and value]


def redact_all(text: str) -> str:
    """``redact`` plus this installation's own secrets: for model errors and other text that came
    back from outside and is about to be stored or shown."""
    return redact(text, also=configured_secrets())


class SecretsFilter(logging.Filter):
    """On the log handlers (``LOGGING`` in config/settings.py, and a worker's own, see
    config/celery.py): every record, whichever library wrote it (a model provider's client may log
    whole requests at DEBUG), is written redacted, traceback included, and never with this
    installation's own secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._redact(record)
        except Exception as error:  # a log line must never fail, nor leak, because of its filter
            record.msg = f"(a log record that could not be redacted: {type(error).__name__})"
            record.args, record.exc_info, record.exc_text, record.stack_info = None, None, None, None
        return True

    @staticmethod
    def _redact(record: logging.LogRecord) -> None:
        message = record.getMessage()
        clean = redact_all(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_all(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_all(record.stack_info)
