"""Governance pages, mounted at /governance/."""

from django.urls import URLPattern, URLResolver, path

from governance import views

app_name = "governance"

urlpatterns: list[URLPattern | URLResolver] = [
    path("approvals/", views.approvals, name="approvals"),
    path("reset/<str:token>/", views.password_reset, name="password_reset"),
]
