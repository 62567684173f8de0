"""Governance API routes, mounted at /api/governance/."""

from django.urls import URLPattern, URLResolver, path

from governance import api, approvals_api

app_name = "governance_api"

urlpatterns: list[URLPattern | URLResolver] = [
    path("kill-switch/", api.KillSwitchView.as_view(), name="kill-switch"),
    path("kill-switch/pause/", api.KillSwitchPauseView.as_view(), name="kill-switch-pause"),
    path("kill-switch/resume/", api.KillSwitchResumeView.as_view(), name="kill-switch-resume"),
    path("approvals/", approvals_api.pending, name="approvals"),
    path("approvals/<int:step_id>/decide/", approvals_api.decide_step, name="approval-decide"),
]
