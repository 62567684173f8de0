"""The ticket's language (lingua) and the team hint for non-English tickets (understanding/language.py).

Hand-written examples, not taken from the evaluation set.
"""

import threading
import time

import pytest

from understanding import language
from understanding.language import Detected, detect, queue_hint


@pytest.mark.parametrize(
    ("text", "code", "name"),
    [
        (
            "Mein Laptop startet nicht mehr und ich komme nicht an meine Dateien. Könnt ihr helfen?",
            "de",
            "German",
        ),
        ("Ich habe mein Kennwort vergessen, bitte setzt es zurück.", "de", "German"),
        (
            "Je n'arrive plus à me connecter depuis ce matin, pouvez-vous regarder mon compte ?",
            "fr",
            "French",
        ),
        ("Necesito acceso a la carpeta compartida del equipo de ventas, por favor.", "es", "Spanish"),
        ("Não consigo entrar no meu e-mail desde ontem, podem verificar a minha conta?", "pt", "Portuguese"),
        ("Ik kan niet meer inloggen op mijn laptop, kunnen jullie mij helpen?", "nl", "Dutch"),
        (
            "Non riesco ad accedere alla posta da stamattina, potete controllare il mio account?",
            "it",
            "Italian",
        ),
        (
            "My laptop will not connect to the printer on the third floor, could someone look at it?",
            "en",
            "English",
        ),
    ],
)
def test_languages(text, code, name):
    result = detect(text)
    assert (result.code, result.name) == (code, name)
    assert result.english == (code == "en")
    assert 0.5 <= result.confidence <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        "vscode pls",
        "Zoom on my laptop pls",
        "slack?",
        "7-Zip",
        "MFA reset",
        "need Tableau Desktop asap",
        "please install PeaZip",
        "Install JetBrains Rider for me please.",
        "the CRM group for me",
        "",
        "🙏🙏",
    ],
)
def test_short_texts_and_product_names_are_english(text):
    assert detect(text).code == "en"


@pytest.mark.parametrize(
    "text",
    [
        "Hallo zusammen, could you please reset my password? I locked myself out this morning.",
        "Bonjour! I need Slack installed on my new laptop, the old one was replaced yesterday. Merci!",
        "Hola, can you add me to the engineering group? I started on the platform team this week. Gracias",
        "Ciao, my account is locked after too many attempts, could you unlock it? Grazie mille",
        "Hoi, please reset my MFA, I have a new phone and the authenticator is gone. Bedankt!",
    ],
)
def test_english_tickets_with_a_foreign_greeting_or_thanks_are_english(text):
    assert detect(text).code == "en"


def test_mixed_language_ticket_goes_by_the_language_of_the_request():
    # The request sentences are German; the English pleasantry is one short sentence.
    text = "Hi there! Mein Konto ist seit heute Morgen gesperrt. Könnt ihr es bitte entsperren? Thanks!"
    assert detect(text).code == "de"
    # The request is English; the Spanish words are a greeting and thanks.
    assert detect("hola! could you install Slack on my laptop? gracias").code == "en"
    # An English apology, then the request in German: the request's words outnumber it.
    text = "Sorry for my English. Mein Konto ist seit heute Morgen gesperrt, könnt ihr es bitte entsperren?"
    assert detect(text).code == "de"
    # An English request, then a long German closing formula: the formula does not vote.
    assert detect("Can you install Zoom on my laptop? Vielen Dank und schöne Grüße aus München").code == "en"


@pytest.mark.parametrize(
    ("text", "code"),
    [("Passwort vergessen", "de"), ("wachtwoord vergeten", "nl"), ("Drucker geht nicht", "de")],
)
def test_short_foreign_texts_are_foreign_when_lingua_is_clear(text, code):
    assert detect(text).code == code


def test_detected_is_frozen():
    result = detect("Please reset my password, I forgot it over the weekend.")
    assert isinstance(result, Detected)
    with pytest.raises(AttributeError):
        result.code = "de"  # type: ignore[misc]


def test_detector_is_built_once_across_threads():
    seen: list[object] = []

    def worker():
        seen.append(language.detector())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(d) for d in seen}) == 1


def test_detection_is_fast_once_built():
    language.detector()
    text = "Je n'arrive plus à me connecter depuis ce matin, pouvez-vous regarder mon compte ? Merci"
    start = time.perf_counter()
    for _ in range(20):
        detect(text)
    assert (time.perf_counter() - start) / 20 < 0.02


@pytest.mark.parametrize(
    ("text", "code", "queue"),
    [
        ("Mein Kennwort ist abgelaufen und ich komme nicht mehr rein.", "de", "accounts-access"),
        ("Bitte installiert mir Notepad++ auf meinem Rechner.", "de", "software"),
        ("Mein Bildschirm flackert und die Tastatur ist defekt.", "de", "hardware"),
        ("Das WLAN im dritten Stock bricht ständig ab.", "de", "network"),
        ("Mon compte est verrouillé, pouvez-vous le débloquer ?", "fr", "accounts-access"),
        ("Pourriez-vous installer le logiciel de dessin sur mon poste ?", "fr", "software"),
        ("Mon imprimante ne fonctionne plus.", "fr", "hardware"),
        ("Le VPN se coupe toutes les cinq minutes.", "fr", "network"),
        ("Necesito permisos para el grupo de marketing.", "es", "accounts-access"),
        ("¿Podéis instalarme el programa de diagramas?", "es", "software"),
        ("La impresora de la segunda planta está rota.", "es", "hardware"),
        ("Esqueci a minha senha.", "pt", "accounts-access"),
        ("Podem instalar o programa de PDF no meu computador?", "pt", "software"),
        ("Mijn wachtwoord werkt niet meer.", "nl", "accounts-access"),
        ("Kunnen jullie het programma voor diagrammen installeren?", "nl", "software"),
        ("Het netwerk op kantoor is erg traag.", "nl", "network"),
        ("Ho bisogno di accesso al gruppo marketing.", "it", "accounts-access"),
        ("Potete installare il programma per i diagrammi?", "it", "software"),
        ("La stampante è rotta.", "it", "hardware"),
        ("La rete wifi non funziona.", "it", "network"),
    ],
)
def test_queue_hint(text, code, queue):
    assert queue_hint(text, code) == queue


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Hallo, ich habe eine Frage zur Reisekostenabrechnung.", "de"),  # nothing IT-specific
        ("Bonjour, pouvez-vous m'aider ?", "fr"),
        ("Please reset my password", "en"),  # English tickets are read by the local models
        ("Mijn wachtwoord werkt niet", "xx"),  # unknown language
    ],
)
def test_queue_hint_is_none_when_unsure(text, code):
    assert queue_hint(text, code) is None


def test_queue_hint_does_not_match_inside_other_words():
    # "accountant" is not "account"; installing is software.
    assert (
        queue_hint("Kunnen jullie Excel installeren? Het bestand komt van de accountant.", "nl") == "software"
    )
