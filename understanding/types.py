"""The typed reading of one ticket: what the requester asks, for whom, and on which catalog entity.

Produced by the local understanding (``reading``) or by a chat model (``llm_reader``); the router
and the planner turn it into a proposal, a question or a hand-over. Only a present request, with
polarity "add", for the requester's own account, leads to an action.
"""

from dataclasses import dataclass, field
from enum import StrEnum


class SpeechAct(StrEnum):
    REQUEST = "request"  # a present request: "please reset my password", "vscode pls"
    QUESTION = "question"  # how to do it yourself, or whether something is possible
    REPORT = "report"  # phishing, an unexpected MFA prompt, a reset link that never arrived
    STATUS = "status"  # "any update on my ticket?"
    FUTURE = "future"  # a maybe: "we might need Tableau next quarter"
    CANCEL = "cancel"  # "don't", "cancel my request", "leave it locked"
    OTHER = "other"  # thanks, chatter, nothing asked


class Polarity(StrEnum):
    ADD = "add"  # install, grant, reset, unlock
    REMOVE = "remove"  # uninstall, take me out of, revoke
    NONE = "none"


class Beneficiary(StrEnum):
    SELF = "self"  # the requester's own account or device
    OTHER = "other"  # another person, a new hire, a team, a shared/service/admin account, a room
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Reading:
    speech_act: SpeechAct
    polarity: Polarity = Polarity.NONE
    beneficiary: Beneficiary = Beneficiary.SELF
    beneficiary_detail: str = ""  # for staff: "bob", "a new hire", "a shared mailbox"
    action: str | None = None  # a catalog action code
    entity: str | None = None  # the canonical catalog software or group name
    evidence: tuple[str, ...] = ()  # the requester's own words the reading relied on
    language: str = "en"  # ISO 639-1 of the ticket
    flags: tuple[str, ...] = ()  # "injection", "quoted_request", "auto_reply", "near_miss:Acrobat Reader"
    notes: tuple[str, ...] = field(default=())  # reasons, for staff and the audit trail

    @property
    def actionable(self) -> bool:
        return (
            self.speech_act == SpeechAct.REQUEST
            and self.polarity != Polarity.REMOVE
            and self.beneficiary == Beneficiary.SELF
            and self.action is not None
        )
