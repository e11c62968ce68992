"""Product images served by Django itself (`make demo`, or SERVE_MEDIA=true without a web server)."""

from pathlib import PurePosixPath

from django.http import Http404, HttpRequest, HttpResponse
from django.views.static import serve

from shop.images import IMAGE_EXTENSIONS


def media_serve(request: HttpRequest, path: str, document_root: str) -> HttpResponse:
    """Only image files, never sniffed: whatever else lies in MEDIA_ROOT (a page stored before
    images got their format's extension) would otherwise run as the shop's own page."""
    if PurePosixPath(path).suffix.lower().lstrip(".") not in IMAGE_EXTENSIONS:
        raise Http404("Not an image.")
    response = serve(request, path, document_root=document_root)
    response["X-Content-Type-Options"] = "nosniff"
    return response
