"""The staff workspace, mounted at /staff/."""

from django.urls import URLPattern, URLResolver, path

from workspace import views

app_name = "staff"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.queue, name="home"),
    path("queues/<slug:slug>/", views.queue, name="queue"),
    path("tickets/<int:ticket_id>/", views.ticket, name="ticket"),
    path("tickets/<int:ticket_id>/claim/", views.ticket_claim, name="claim"),
    path("tickets/<int:ticket_id>/assign/", views.ticket_assign, name="assign"),
    path("tickets/<int:ticket_id>/comment/", views.ticket_comment, name="comment"),
    path("tickets/<int:ticket_id>/priority/", views.ticket_priority, name="priority"),
    path("tickets/<int:ticket_id>/status/", views.ticket_status, name="status"),
    path("tickets/<int:ticket_id>/resolve/", views.ticket_resolve, name="resolve"),
    path("tickets/<int:ticket_id>/reopen/", views.ticket_reopen, name="reopen"),
    path("tickets/<int:ticket_id>/move/", views.ticket_move, name="move"),
    path("tickets/<int:ticket_id>/action/", views.ticket_action, name="action"),
    path("tickets/<int:ticket_id>/correction/", views.ticket_correction, name="correction"),
    path("metrics/", views.metrics, name="metrics"),
    path("corrections.jsonl", views.corrections_export, name="corrections_export"),
]
