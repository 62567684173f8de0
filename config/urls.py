from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.routers import DefaultRouter
from rest_framework.throttling import AnonRateThrottle

from governance.urls import urlpatterns as governance_pages
from insights.urls import urlpatterns as insights_pages
from servicedesk.api import TicketViewSet

router = DefaultRouter()
router.register("tickets", TicketViewSet, basename="ticket")

api_urls: list[URLPattern | URLResolver] = [
    path("", include(router.urls)),
    # DRF's token view turns throttling off; password spraying across usernames is limited here,
    # repeated failures for one username by django-axes.
    path("auth/token/", ObtainAuthToken.as_view(throttle_classes=[AnonRateThrottle]), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
]

urlpatterns = [
    path("", include("servicedesk.urls")),
    path("api/governance/", include("governance.api_urls")),
    path("api/", include((api_urls, "api"))),
    # Governance's pages and the managers' (insights) share /governance/ and the "governance" namespace.
    path("governance/", include(([*governance_pages, *insights_pages], "governance"))),
    path("staff/", include("workspace.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]

# A URL under /api/ that matches no route answers JSON like every other API error.
handler404 = "servicedesk.views.page_not_found"
