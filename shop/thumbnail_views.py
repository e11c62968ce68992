"""The thumbnail fallback: listings link here until the worker has made a product's thumbnail."""

import logging

from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404

from shop.models import Product
from shop.thumbnails import product_thumbnail_make

logger = logging.getLogger(__name__)


def product_thumbnail(request: HttpRequest, product_id: int) -> HttpResponseRedirect:
    """302 to the product's thumbnail, made here first if missing or outdated.

    Redirects to the full image when the image cannot be thumbnailed (or changed meanwhile);
    404 without an image. Inactive products too: a cart or an order may still show them.
    """
    product = get_object_or_404(Product, pk=product_id)
    if not product.image:
        raise Http404("This product has no image.")
    try:
        product_thumbnail_make(product=product)
    except Exception:  # storage trouble: the page still gets its picture
        logger.exception("Could not make the thumbnail of product %s on request", product.pk)
    if product.thumbnail and product.thumbnail_sha256 == product.image_sha256:
        return HttpResponseRedirect(product.thumbnail.url)
    return HttpResponseRedirect(product.image.url)
