from django import forms

from servicedesk.models import COMMENT_MAX_LENGTH, DESCRIPTION_MAX_LENGTH, SUBJECT_MAX_LENGTH


class TicketForm(forms.Form):
    subject = forms.CharField(
        max_length=SUBJECT_MAX_LENGTH,
        help_text="A short summary, e.g. “Locked out of my laptop”.",
        error_messages={"required": "Please give your ticket a subject."},
    )
    description = forms.CharField(
        max_length=DESCRIPTION_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="What do you need, and what have you tried? Never include a password.",
        error_messages={"required": "Please describe what you need."},
    )


class ReplyForm(forms.Form):
    body = forms.CharField(
        label="Your reply",
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Please write a reply."},
    )


class ReopenForm(forms.Form):
    reason = forms.CharField(
        label="What is still wrong?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Please tell us what is still wrong."},
    )
