"""Governance API routes, mounted at /api/governance/."""

from django.urls import URLPattern, URLResolver

app_name = "governance_api"

urlpatterns: list[URLPattern | URLResolver] = []
