from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from config.media import media_serve

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("recommendations.urls")),
    path("api/", include("shop.api_urls")),
    # Django's login, logout (POST), password change and reset views; templates in templates/registration/.
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
