"""The speech act of one clause, by a classifier trained on sentence embeddings.

Why a trained classifier: whether a clause asks for something now, asks how to do it, reports a
problem with the help itself, checks on a status, cancels, or only muses about the future is a
matter of the whole phrasing, which a sentence embedding captures and a list of keywords does not.
The classifier is a multinomial logistic regression over all-MiniLM-L6-v2 embeddings of the
hand-written sentences in ``examples`` (never evaluation rows), with {thing} filled by neutral
fillers. Training is deterministic (lbfgs, fixed seed) and takes about a second when the router is
built, so there is no artefact to ship or to go stale.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from understanding import examples

Encoder = Callable[[Sequence[str]], np.ndarray]

REQUEST, REMOVE, QUESTION, REPORT, STATUS, FUTURE, CANCEL, OTHER = (
    "request",
    "remove",
    "question",
    "report",
    "status",
    "future",
    "cancel",
    "other",
)
LABELS: dict[str, list[str]] = {
    REQUEST: examples.REQUEST,
    REMOVE: examples.REMOVE,
    QUESTION: examples.QUESTION,
    REPORT: examples.REPORT,
    STATUS: examples.STATUS,
    FUTURE: examples.FUTURE,
    CANCEL: examples.CANCEL,
    OTHER: examples.OTHER,
}


def training_set() -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    for label, sentences in LABELS.items():
        for i, sentence in enumerate(sentences):
            fillers = examples.FILLERS if "{thing}" in sentence else [""]
            # two fillers per templated sentence, chosen by position: deterministic and varied
            for filler in (fillers[i % len(fillers)], fillers[(i + 3) % len(fillers)])[: len(fillers)]:
                texts.append(sentence.format(thing=filler))
                labels.append(label)
    return texts, labels


@dataclass(frozen=True)
class Act:
    label: str
    probability: float
    scores: dict[str, float]


class SpeechActClassifier:
    def __init__(self, encode: Encoder, extra: dict[str, list[str]] | None = None):
        from sklearn.linear_model import LogisticRegression

        texts, labels = training_set()
        for label, sentences in (extra or {}).items():
            texts += sentences
            labels += [label] * len(sentences)
        self.encode = encode
        self.model = LogisticRegression(C=4.0, max_iter=2000, random_state=0, class_weight="balanced")
        self.model.fit(encode(texts), labels)
        self.labels: list[str] = [str(c) for c in self.model.classes_]

    def classify(self, embeddings: np.ndarray) -> list[Act]:
        if not len(embeddings):
            return []
        probs = self.model.predict_proba(embeddings)
        acts = []
        for row in probs:
            best = int(np.argmax(row))
            scores = {label: round(float(p), 4) for label, p in zip(self.labels, row, strict=True)}
            acts.append(Act(self.labels[best], float(row[best]), scores))
        return acts
