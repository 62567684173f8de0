from django.urls import path

from servicedesk import views

app_name = "servicedesk"

urlpatterns = [
    path("", views.home, name="home"),
    path("tickets/", views.ticket_list, name="ticket_list"),
    path("tickets/new/", views.ticket_create, name="ticket_create"),
    path("tickets/<int:ticket_id>/", views.ticket_detail, name="ticket_detail"),
    path("tickets/<int:ticket_id>/confirm/", views.ticket_confirm, name="ticket_confirm"),
    path("tickets/<int:ticket_id>/reopen/", views.ticket_reopen, name="ticket_reopen"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/<int:notification_id>/", views.notification_open, name="notification_open"),
]
