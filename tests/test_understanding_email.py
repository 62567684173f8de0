"""The sender's own new words of an email-shaped ticket (understanding/email.py).

Hand-written examples: quoted replies and forwarded mail are context, never the request.
"""

import time

import pytest

from understanding.email import OwnText, own_text


def test_quoted_reply_is_context_not_the_request():
    text = (
        "Me too please, I also need Slack on my laptop.\n\n"
        "On Tue, 4 Feb 2025 at 10:15, Priya Shah <priya@example.com> wrote:\n"
        "> Hello IT,\n"
        "> could you install Slack for me?\n"
        "> Priya"
    )
    result = own_text(text)
    assert result.text == "Me too please, I also need Slack on my laptop."
    assert "could you install Slack for me?" in result.quoted
    assert "wrote:" in result.quoted
    assert "quoted or forwarded mail" in result.removed
    assert not result.auto_reply


def test_outlook_original_message_is_quoted_and_an_approval_in_it_is_not_own_text():
    text = (
        "Hello,\n\n"
        "Please ignore my earlier mail, the share works again.\n\n"
        "Regards,\nTom\n\n"
        "-----Original Message-----\n"
        "From: Sam Lee\n"
        "Sent: Friday, 7 March 2025 16:40\n"
        "To: Tom Baker\n"
        "Subject: RE: finance share\n\n"
        "Approved - IT please add Tom to finance-reports."
    )
    result = own_text(text)
    assert result.text == "Please ignore my earlier mail, the share works again."
    assert result.quoted.startswith("-----Original Message-----")
    assert "Approved - IT please add Tom to finance-reports." in result.quoted
    assert {"greeting", "sign-off and signature", "quoted or forwarded mail"} <= set(result.removed)


def test_forwarded_mail_is_quoted():
    text = (
        "See below, can you help?\n\n"
        "---------- Forwarded message ---------\n"
        "From: Lena Ortiz <lena@example.com>\n"
        "Date: Thu, 6 Mar 2025 at 09:01\n"
        "Subject: AutoCAD\n"
        "To: Marco <marco@example.com>\n\n"
        "Please install AutoCAD on Marco's PC."
    )
    result = own_text(text)
    assert result.text == "See below, can you help?"
    assert "Please install AutoCAD on Marco's PC." in result.quoted
    assert "Forwarded message" in result.quoted


def test_a_forward_with_no_own_words_has_empty_own_text():
    text = (
        "---------- Forwarded message ---------\n"
        "From: Lena Ortiz <lena@example.com>\n"
        "Date: Thu, 6 Mar 2025\n"
        "Subject: Zoom\n"
        "To: IT <it@example.com>\n\n"
        "Please install Zoom."
    )
    result = own_text(text)
    assert result.text == ""
    assert "Please install Zoom." in result.quoted


@pytest.mark.parametrize(
    ("text", "own", "history"),
    [
        (
            "Bitte ignorieren, hat sich erledigt.\n\nVon: Jana Weber\n"
            "Gesendet: Dienstag, 11. März 2025 08:30\n"
            "An: IT Service Desk\nBetreff: Passwort\n\nBitte mein Passwort zurücksetzen.",
            "Bitte ignorieren, hat sich erledigt.",
            "Bitte mein Passwort zurücksetzen.",
        ),
        (
            "Zur Info.\n\n-------- Weitergeleitete Nachricht --------\nBetreff: Zugang\n"
            "Datum: Mon, 10 Mar 2025\n"
            "Von: Jan <jan@example.com>\n\nBitte Jan zu vpn-users hinzufügen.",
            "Zur Info.",
            "Bitte Jan zu vpn-users hinzufügen.",
        ),
        (
            "Yo también lo necesito.\n\n"
            "El lun, 10 mar 2025 a las 9:12, Ana Ruiz (<ana@example.com>) escribió:\n"
            "> ¿Podéis instalarme Zoom?",
            "Yo también lo necesito.",
            "¿Podéis instalarme Zoom?",
        ),
        (
            "Eu também preciso.\n\nEm seg., 10 de mar. de 2025 às 09:12, Rui <rui@example.com> escreveu:\n"
            "> Podem instalar o Zoom?",
            "Eu também preciso.",
            "Podem instalar o Zoom?",
        ),
        (
            "Graag voor mij ook.\n\nOp ma 10 mrt 2025 om 09:12 schreef Piet <piet@example.com>:\n"
            "> Kunnen jullie Slack installeren?",
            "Graag voor mij ook.",
            "Kunnen jullie Slack installeren?",
        ),
        (
            "Anche per me, grazie.\n\n"
            "Il giorno lun 10 mar 2025 alle ore 09:12 Luca <luca@example.com> ha scritto:\n"
            "> Potete installare Slack?",
            "Anche per me, grazie.",
            "Potete installare Slack?",
        ),
    ],
)
def test_reply_headers_in_other_languages(text, own, history):
    result = own_text(text)
    assert result.text == own
    assert history in result.quoted


def test_signature_and_disclaimer_are_removed_and_the_request_kept():
    text = (
        "Good morning,\n\n"
        "My account got locked after the weekend. Can you unlock it please?\n\n"
        "Kind regards,\n"
        "Nina Patel\n"
        "Procurement Lead | Operations\n"
        "T: +44 20 7946 0018\n\n"
        "DISCLAIMER: This e-mail and any files transmitted with it are confidential and intended solely "
        "for the use of the individual to whom they are addressed. If you have received this e-mail in "
        "error please notify the sender."
    )
    result = own_text(text)
    assert result.text == "My account got locked after the weekend. Can you unlock it please?"
    assert result.quoted == ""
    assert {"greeting", "disclaimer", "sign-off and signature"} <= set(result.removed)


def test_dash_dash_signature_and_sent_from_line():
    text = (
        "Hey team,\n\nCould you reset my MFA? New phone.\n\nCheers,\nOmar\n\n--\nOmar Haddad\n"
        "Platform Engineering\nomar@example.com\n\nSent from my iPhone"
    )
    result = own_text(text)
    assert result.text == "Could you reset my MFA? New phone."
    assert "sent-from line" in result.removed


def test_a_bare_name_closing_the_mail_is_removed():
    result = own_text("Hi,\n\nPlease add me to wiki-editors, I maintain the runbooks.\n\nMaya")
    assert result.text == "Please add me to wiki-editors, I maintain the runbooks."


def test_a_postscript_with_a_request_is_kept():
    result = own_text("Please unlock my account.\n\nThanks,\nLee\n\nP.S. could you also reset my MFA?")
    assert "P.S. could you also reset my MFA?" in result.text
    assert "Please unlock my account." in result.text


@pytest.mark.parametrize(
    "text",
    [
        "Automatic reply: Laptop refresh\n\nThank you for your message. I am out of the office until "
        "Monday 14 April with limited access to email. For urgent matters please contact the service desk.",
        "Hi,\n\nI'm currently out of the office and will be back on 3 June. I will reply when I return.\n\n"
        "Best,\nOwen",
        "Vielen Dank für Ihre Nachricht. Ich bin bis zum 22. April nicht im Büro und habe keinen Zugriff "
        "auf meine E-Mails. In dringenden Fällen wenden Sie sich bitte an meine Kollegin.",
        "Réponse automatique : je suis absent jusqu'au 5 mai, je vous répondrai à mon retour.",
    ],
)
def test_out_of_office_replies(text):
    assert own_text(text).auto_reply


@pytest.mark.parametrize(
    "text",
    [
        "I was out of the office last week and now my password has expired. Can you reset it?",
        "I'm back from leave and my account is locked, please unlock it.",
        "My automatic reply is not turning off in Outlook, can you help?",
        "I'm out of the office until Monday and my phone won't sync mail, can you reset my password?",
    ],
)
def test_mentioning_an_absence_is_not_an_auto_reply(text):
    assert not own_text(text).auto_reply


@pytest.mark.parametrize(
    "text",
    [
        "vscode pls",
        "Zoom on my laptop pls",
        "Please reset my password",
        "Thanks, that fixed the VPN. Could you also install Zoom?",
        "Hi, I need a password reset for my account.",
        "Need these installed:\n- 7-Zip\n- Slack\n\nand the VPN group too",
        "Don't install Slack.\n-- It's not needed any more.",
        "Please install the following:\n\nVisual Studio Code",
        "Install Zoom, From: marketing budget, To: my laptop",
        "Slack,\nI need it installed on my laptop",
        "Thanks, that worked.\nAlso please install Zoom",
        "> 50 people are affected by the outage\nplease check",
    ],
)
def test_plain_tickets_are_unchanged(text):
    result = own_text(text)
    assert result == OwnText(text=text)


def test_empty_text():
    assert own_text("") == OwnText(text="")
    assert own_text("  \n \n").text == ""


def test_it_is_fast():
    text = (
        "Hi team,\n\n" + "Some context about my situation. " * 30 + "\n\nCould you add me to vpn-users?\n\n"
        "Thanks,\nBob\n\n-----Original Message-----\nFrom: Dave\nSent: Monday\nTo: Bob\nSubject: VPN\n\n"
        + "> quoted line\n"
        * 40
    )
    own_text(text)  # first call imports the parser and compiles its patterns
    start = time.perf_counter()
    for _ in range(50):
        own_text(text)
    assert (time.perf_counter() - start) / 50 < 0.02
