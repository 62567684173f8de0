"""The managers' pages. Mounted by config/urls.py under /governance/ in the ``governance`` namespace,
beside governance's own pages: their addresses and URL names did not change when they moved here."""

from django.urls import URLPattern, URLResolver, path

from insights import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/reviews/", views.reviews, name="dashboard_reviews"),
    path("dashboard/reviews/<int:review_id>/", views.review_detail, name="dashboard_review"),
    path("dashboard/quarterly/", views.quarterly, name="dashboard_quarterly"),
    path("dashboard/monitoring/", views.monitoring_page, name="dashboard_monitoring"),
    path("dashboard/backtest/", views.backtest_page, name="dashboard_backtest"),
    path("dashboard/backtest/<int:run_id>/", views.backtest_run, name="dashboard_backtest_run"),
    path(
        "dashboard/monitoring/<int:alert_id>/acknowledge/",
        views.alert_acknowledge,
        name="dashboard_alert_ack",
    ),
]
