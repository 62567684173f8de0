"""Governance pages, mounted at /governance/ by config/urls.py (beside the managers' pages of insights)."""

from django.urls import URLPattern, URLResolver, path

from governance import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("approvals/", views.approvals, name="approvals"),
    path("reset/<str:token>/", views.password_reset, name="password_reset"),
]
