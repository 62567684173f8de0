from django.apps import AppConfig


class UnderstandingConfig(AppConfig):
    name = "understanding"
    verbose_name = "Understanding"
