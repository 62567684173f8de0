"""Governance pages, mounted at /governance/."""

from django.urls import URLPattern, URLResolver, path

from governance import dashboard_views, views

app_name = "governance"

urlpatterns: list[URLPattern | URLResolver] = [
    path("approvals/", views.approvals, name="approvals"),
    path("reset/<str:token>/", views.password_reset, name="password_reset"),
    path("dashboard/", dashboard_views.dashboard, name="dashboard"),
    path("dashboard/reviews/", dashboard_views.reviews, name="dashboard_reviews"),
    path("dashboard/reviews/<int:review_id>/", dashboard_views.review_detail, name="dashboard_review"),
    path("dashboard/quarterly/", dashboard_views.quarterly, name="dashboard_quarterly"),
    path("dashboard/monitoring/", dashboard_views.monitoring_page, name="dashboard_monitoring"),
    path("dashboard/backtest/", dashboard_views.backtest_page, name="dashboard_backtest"),
    path("dashboard/backtest/<int:run_id>/", dashboard_views.backtest_run, name="dashboard_backtest_run"),
    path(
        "dashboard/monitoring/<int:alert_id>/acknowledge/",
        dashboard_views.alert_acknowledge,
        name="dashboard_alert_ack",
    ),
]
