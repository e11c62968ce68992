from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from config.media import media_serve
from shop import account_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("recommendations.urls")),
    path("api/", include("shop.api_urls")),
    # Django's login (with a lockout after repeated failures), logout (POST), password change and
    # reset views; templates in templates/registration/.
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("shop.urls")),
]

if settings.DEBUG or settings.SERVE_MEDIA:
    # Uploaded product images (`make demo`); production leaves them to a web server or CDN.
    media = settings.MEDIA_URL.lstrip("/")
    urlpatterns += [re_path(rf"^{media}(?P<path>.*)$", media_serve, {"document_root": settings.MEDIA_ROOT})]

# JSON errors for /api/ URLs, the usual pages elsewhere.
handler404 = "config.api.not_found"
handler500 = "config.api.server_error"
