"""The sender's own new words of an email-shaped ticket.

Tickets are typed or pasted into the web form, or taken from an email body (no headers). Only the
sender's own new text can be a request: quoted reply history and forwarded mail are context, never a
request and never an approval, and an out-of-office reply asks for nothing.

``own_text`` splits the reply history with mail-parser-reply (its multi-language "On ... wrote:",
"Am ... schrieb", "Le ... a écrit", "Il ... ha scritto" lines and Outlook "From:/Sent:", "Von:/Gesendet:",
"Van:/Verzonden:", "Da:/Inviato:", "De:/Enviado:" header blocks), adds the separators that library does
not know (forwarded-message markers and "Original Message" lines in the seven languages, the Gmail
"... escribió:", "... escreveu:" and "Op ... schreef ...:" lines, "> " quoted lines), then trims the
greeting line, the sign-off and signature block, "Sent from my iPhone" lines and legal disclaimers.
mail-parser-reply's own signature rule is not used: it cuts everything after any line starting with
"Thanks," or "- ", which loses requests in ordinary tickets ("Thanks, that worked. Now ...", lists).

Trimming is conservative: a plain ticket comes back unchanged, a signature block is only removed after
a sign-off line ("Thanks,", "Best regards", "Mit freundlichen Grüßen", "Cordialement", ...) or a "--"
delimiter and only when it looks like one (short lines, contact details, disclaimers), and a "P.S."
is kept.
"""

import re
from dataclasses import dataclass

__all__ = ["OwnText", "own_text"]


@dataclass(frozen=True)
class OwnText:
    text: str  # the sender's own new words
    quoted: str = ""  # quoted reply history and forwarded mail: context only
    auto_reply: bool = False  # an out-of-office / automatic reply
    removed: tuple[str, ...] = ()  # what was removed, for staff: "greeting", "signature", ...


# Languages whose reply headers mail-parser-reply knows (it has no Portuguese; the Spanish "De:/Para:"
# header block covers Portuguese Outlook headers).
_PARSER_LANGUAGES = ("en", "de", "fr", "es", "it", "nl")

# Separators mail-parser-reply misses. Each matches a whole (stripped) line.
_SEPARATOR = re.compile(
    r"^(?:"
    # forwarded mail: Gmail, Outlook, Apple Mail, Thunderbird, in the seven languages
    r"-*\s*(?:forwarded message|begin forwarded message|weitergeleitete nachricht|anfang der weitergeleiteten"
    r" nachricht|message transf[ée]r[ée]|d[ée]but du message r[ée]exp[ée]di[ée]|mensaje reenviado|"
    r"mensaje original|mensagem encaminhada|mensagem original|doorgestuurd bericht|oorspronkelijk bericht|"
    r"messaggio inoltrato|messaggio originale|original message|urspr[üu]ngliche nachricht|"
    r"message d'origine|inizio messaggio inoltrato)\s*:?\s*-*"
    # Gmail quote lines in languages whose pattern the library lacks or gets wrong
    r"|el\s.+\sescribi[óo]\s*:"
    r"|em\s.+\sescreveu\s*:"
    r"|op\s.+\sschreef\s.*:"
    r"|on\s.+\swrote\s*:"
    r")$",
    re.IGNORECASE | re.MULTILINE,
)
_QUOTE_LINE = re.compile(r"^>(?!\s*[\d=])")  # "> text" is quoted; "> 50 users", ">= 3" are not

_GREETING = re.compile(
    r"^(?:hi|hii+|hello|hey|heya|hiya|dear|good (?:morning|afternoon|evening|day)|greetings|morning|"
    r"hallo|guten (?:morgen|tag|abend)|liebe[rs]?|sehr geehrte[rs]?|moin|servus|hi zusammen|"
    r"bonjour|bonsoir|salut|cher|ch[èe]re|madame|monsieur|"
    r"hola|buen(?:os|as) (?:d[ií]as|tardes|noches)|estimad[oa]s?|"
    r"ol[áa]|oi|bom dia|boa (?:tarde|noite)|prezad[oa]s?|caro|cara|"
    r"beste|hoi|goedemorgen|goedemiddag|goedenavond|geachte|"
    r"ciao|buongiorno|buonasera|gentil[ei]|salve)\b[^.?!\n]{0,40}[,!:.]?$",
    re.IGNORECASE,
)
# A bare salutation on the first line: "Team,", "IT team,", "Folks,".
_SALUTATION = re.compile(
    r"^(?:(?:hi|hello|hey|dear) )?(?:[a-z]+ )?(?:team|all|everyone|folks|guys|colleagues|it|service ?desk|"
    r"support|help ?desk|it support|zusammen|team it|équipe|equipo|equipa|pessoal|allemaal|tutti)\s*[,!]?$",
    re.IGNORECASE,
)

_SIGN_OFF_PHRASE = (
    r"(?:many |thanks |thank you |with |kind |best |warm |warmest |all the |and )?"
    r"(?:thanks|thank you|thx|ty|ta|cheers|regards|best|best wishes|sincerely|yours(?: truly| sincerely)?|"
    r"kind regards|best regards|warm regards|all the best|with thanks|many thanks|speak soon|br|"
    r"danke|vielen dank|danke sch[öo]n|viele gr[üu](?:ß|ss)e|beste gr[üu](?:ß|ss)e|liebe gr[üu](?:ß|ss)e|"
    r"mit freundlichen gr[üu](?:ß|ss)en|freundliche gr[üu](?:ß|ss)e|gr[üu](?:ß|ss)e|gru(?:ß|ss)|mfg|lg|vg|"
    r"merci|merci beaucoup|merci d'avance|cordialement|bien cordialement|bien [àa] vous|salutations|"
    r"bonne journ[ée]e|"
    r"gracias|muchas gracias|saludos|un saludo|atentamente|cordialmente|un abrazo|"
    r"obrigad[oa]|muito obrigad[oa]|atenciosamente|cumprimentos|abra[çc]os?|valeu|"
    r"bedankt|dank je(?: wel)?|dank u(?: wel)?|alvast bedankt|groeten|met vriendelijke groet(?:en)?|"
    r"vriendelijke groet(?:en)?|groetjes|mvg|"
    r"grazie|grazie mille|cordiali saluti|distinti saluti|saluti|un saluto)"
)
# A sign-off line: the phrase, perhaps "again"/"in advance"/"a lot", punctuation, emoji, and perhaps a name.
# The phrase is matched in any case, the name after it only capitalised ("Thanks, Carol").
_SIGN_OFF = re.compile(
    rf"^(?i:{_SIGN_OFF_PHRASE}(?: (?:so much|again|in advance|a lot|a million|heaps|all|everyone|team))?)"
    r"[\s,.!:;)\-\u2013\u2014]*(?:[^\w\s]{0,3}\s*)?(?:[A-Z][\w.'\u2019-]*(?: [A-Z][\w.'\u2019-]*){0,2})?"
    r"\s*[^\w\s]{0,3}$"
)
_SIG_DELIMITER = re.compile(r"^(?:--|-- |—|__)$")
_SENT_FROM = re.compile(
    r"^(?:sent from (?:my )?[\w .'-]{1,40}|get outlook for [\w ]{1,20}|sent via [\w .'-]{1,30}|"
    r"von meinem [\w .'-]{1,30} gesendet|gesendet von [\w .'-]{1,40}|envoy[ée] (?:de|depuis) [\w .'-]{1,40}|"
    r"enviado (?:desde|do|de) (?:mi |meu |o meu |)[\w .'-]{1,40}|verzonden (?:vanaf|met) [\w .'-]{1,40}|"
    r"inviato da [\w .'-]{1,40})[.!]?$",
    re.IGNORECASE,
)
_DISCLAIMER = re.compile(
    r"confidential|privileged|intended (?:solely |only )?for|intended recipient|addressee|"
    r"received (?:this|it) in error|before printing|legally binding|"
    r"vertraulich|empf[äa]nger|irrt[üu]mlich|"
    r"confidentiel|destinataire|"
    r"confidencial|destinatari[oa]|"
    r"vertrouwelijk|geadresseerde|"
    r"riservat|destinatario",
    re.IGNORECASE,
)
_DISCLAIMER_HEAD = re.compile(
    r"^(?:confidentiality|disclaimer|legal notice|privileged|caution|notice|important|"
    r"this (?:e-?mail|message)|"
    r"diese (?:e-?mail|nachricht)|ce (?:message|courriel|mail)|este (?:correo|mensaje)|esta mensagem|"
    r"este e-?mail|dit (?:bericht|e-?mailbericht)|deze e-?mail|questo messaggio|questa e-?mail|"
    r"please consider)",
    re.IGNORECASE,
)
_CONTACT = re.compile(
    r"\||@|https?://|www\.|\+?\d[\d ()./-]{6,}|\bext\.?\s*\d|\b(?:tel|phone|mobile|mob)\b", re.IGNORECASE
)
_PS = re.compile(r"^p\.?\s?s\.?\b", re.IGNORECASE)
_REQUEST_CUE = re.compile(
    r"\b(?:please(?! note| be aware| consider)|pls|plz|could you|can you|would you|need|install|add me|"
    r"reset|unlock|also|"
    r"bitte|k[öo]nnt|brauche|pourriez|pouvez|merci de|besoin|podr[ií]as|podéis|necesito|podem|preciso|"
    r"kunnen|graag|nodig|potete|potreste|per favore|ho bisogno)\b",
    re.IGNORECASE,
)
# A bare name: "Bob", "Judy Singh", "J. Smith" (not an acronym such as "VPN").
_NAME_LINE = re.compile(r"^[A-Z](?:[a-z][\w'\u2019-]*|\.)(?: [A-Z][\w'\u2019.-]*){0,2}$")

# An automatic reply announces itself in its first line or a "Subject"-like line: "Automatic reply: ...".
_AUTO_STRONG = re.compile(
    r"^(?:(?:subject|betreff|objet|asunto|assunto|onderwerp|oggetto)\s*:\s*)?"
    r"(?:auto(?:matic)?[- ]?(?:reply|response)|out of (?:the )?office(?: reply| auto-?reply)?|"
    r"automatische antwort|abwesenheitsnotiz|abwesenheit|r[ée]ponse automatique|message d'absence|absence|"
    r"respuesta autom[áa]tica|fuera de la oficina|resposta autom[áa]tica|aus[êe]ncia|fora do escrit[óo]rio|"
    r"automatisch antwoord|afwezigheidsbericht|afwezig|risposta automatica|fuori sede|fuori ufficio)\s*:",
    re.IGNORECASE | re.MULTILINE,
)
# Otherwise, a first-person absence, a return or a stand-in, and nothing asked of the desk.
_ASKS = re.compile(r"\?|\b(?:can|could|would) you\b", re.IGNORECASE)
_AUTO_AWAY = re.compile(
    r"\b(?:i am|i'm|i will be) (?:currently )?(?:out of (?:the )?office|away|on (?:annual |parental )?leave|"
    r"on holiday|on vacation|travell?ing)|"
    r"ich bin (?:derzeit |zurzeit |bis )?.{0,30}(?:nicht im b[üu]ro|abwesend|im urlaub)|"
    r"je suis (?:actuellement )?(?:absent|en cong[ée]|en vacances)|"
    r"estoy (?:actualmente )?(?:fuera de la oficina|de vacaciones|ausente)|"
    r"estou (?:atualmente )?(?:fora do escrit[óo]rio|de f[ée]rias|ausente)|"
    r"ik ben (?:momenteel |tot )?.{0,30}(?:afwezig|niet op kantoor|met vakantie)|"
    r"sono (?:attualmente )?(?:fuori (?:ufficio|sede)|in ferie|assente)",
    re.IGNORECASE,
)
_AUTO_RETURN = re.compile(
    r"\b(?:(?:be )?back (?:on|in the office)|return(?:ing)? (?:on|to the office)|"
    r"limited access to (?:e-?mail|my)|"
    r"(?:will|i'll) (?:reply|respond|get back)|for urgent (?:matters|issues|requests)|"
    r"please contact|until \w+day|"
    r"zur[üu]ck|wieder im b[üu]ro|in dringenden f[äa]llen|"
    r"de retour|pour toute urgence|"
    r"regres(?:o|ar[ée])|para asuntos urgentes|"
    r"retorno|regresso|para assuntos urgentes|"
    r"terug|voor dringende zaken|"
    r"rientr(?:o|er[òo])|per urgenze)",
    re.IGNORECASE,
)


def _parser_split(text: str) -> tuple[str, str]:
    """(own part, the rest) at the first reply header mail-parser-reply finds."""
    from mailparser_reply.parser import EmailMessage

    message = EmailMessage(text, languages=list(_PARSER_LANGUAGES)).read()
    body = message.text
    for reply in message.replies:
        if reply.headers:
            position = body.find(reply.headers)
            if position >= 0:
                return body[:position], body[position:]
    return body, ""


def _split_history(text: str) -> tuple[list[str], list[str]]:
    own, rest = _parser_split(text)
    match = _SEPARATOR.search(own)
    if match:
        own, rest = own[: match.start()], own[match.start() :].rstrip("\n") + ("\n" + rest if rest else "")
    own_lines: list[str] = []
    quoted_lines: list[str] = []
    for line in own.split("\n"):
        (quoted_lines if _QUOTE_LINE.match(line) else own_lines).append(line)
    if rest.strip():
        quoted_lines.extend(rest.split("\n"))
    return own_lines, quoted_lines


def _is_disclaimer(paragraph: str) -> bool:
    words = len(paragraph.split())
    if words < 8:
        return False
    hits = len(_DISCLAIMER.findall(paragraph))
    return hits >= 2 or (hits >= 1 and bool(_DISCLAIMER_HEAD.match(paragraph)))


def _signature_like(line: str) -> bool:
    """A line that may sit in a signature block: short or contact details, and no question or request."""
    if not line:
        return True
    if line.rstrip().endswith("?") or _PS.match(line) or _REQUEST_CUE.search(line):
        return False
    return len(line.split()) <= 12 or bool(_CONTACT.search(line))


def _closes_sentence(lines: list[str], index: int) -> bool:
    """The line before ``index`` is blank and the paragraph above ends a sentence."""
    if index < 2 or lines[index - 1]:
        return False
    above = next((line for line in reversed(lines[: index - 1]) if line), "")
    return above.rstrip()[-1:] in (".", "?", "!", ")") or bool(_SIGN_OFF.match(above))


def _trim(lines: list[str]) -> tuple[list[str], list[str]]:
    removed: list[str] = []

    # "Sent from my iPhone" and the like, anywhere.
    kept = [line for line in lines if not _SENT_FROM.match(line)]
    if len(kept) != len(lines):
        removed.append("sent-from line")
    lines = kept

    def first_content(ls: list[str]) -> int:
        return next((i for i, line in enumerate(ls) if line), len(ls))

    # A greeting line on its own, when more follows.
    i = first_content(lines)
    is_greeting = i < len(lines) and bool(_GREETING.match(lines[i]) or _SALUTATION.match(lines[i]))
    if is_greeting and any(line for line in lines[i + 1 :]):
        lines = lines[:i] + lines[i + 1 :]
        removed.append("greeting")

    # Trailing disclaimers, paragraph by paragraph from the end.
    while True:
        end = len(lines)
        while end and not lines[end - 1]:
            end -= 1
        start = end
        while start and lines[start - 1]:
            start -= 1
        paragraph = " ".join(lines[start:end])
        if start > 0 and paragraph and _is_disclaimer(paragraph):
            lines = lines[:start]
            if "disclaimer" not in removed:
                removed.append("disclaimer")
            continue
        break

    # The sign-off and the signature block under it: scanning up from the end over lines that may be
    # a signature, the topmost sign-off line, "--" delimiter or bare name line closing the mail is cut
    # with everything under it. A question, a request or a P.S. stops the scan, so they are kept.
    first = first_content(lines)
    cut = None
    for index in range(len(lines) - 1, first, -1):
        line = lines[index]
        closing = _SIG_DELIMITER.match(line) or _SIGN_OFF.match(line)
        if closing or (_NAME_LINE.match(line) and _closes_sentence(lines, index)):
            cut = index
        elif not _signature_like(line):
            break
    if cut is not None:
        kind = "sign-off and signature" if _SIGN_OFF.match(lines[cut]) else "signature"
        lines = lines[:cut]
        removed.append(kind)
    return lines, removed


def _is_auto_reply(text: str) -> bool:
    head = text[:600]
    if _AUTO_STRONG.search(head):
        return True
    return bool(_AUTO_AWAY.search(head) and _AUTO_RETURN.search(text) and not _ASKS.search(text))


def _tidy(lines: list[str]) -> str:
    text = "\n".join(lines).strip()
    return re.sub(r"\n{3,}", "\n\n", text)


def own_text(text: str) -> OwnText:
    """Split ``text`` into the sender's own new words and the quoted/forwarded history."""
    if not text or not text.strip():
        return OwnText(text="")
    normalised = "\n".join(
        line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    )
    own_lines, quoted_lines = _split_history(normalised)
    removed: list[str] = []
    if quoted_lines:
        removed.append("quoted or forwarded mail")
    own_lines, trimmed = _trim(own_lines)
    removed.extend(trimmed)
    own = _tidy(own_lines)
    quoted = _tidy(quoted_lines)
    auto = _is_auto_reply(own)
    if not removed:
        return OwnText(text=text, auto_reply=auto)
    return OwnText(text=own, quoted=quoted, auto_reply=auto, removed=tuple(removed))
