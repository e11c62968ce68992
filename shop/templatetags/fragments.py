"""Product-card lists rendered once and kept by what they show (the product page's lists).

Rendering a card list is most of a product page's template time, and the similar items, "also
bought" and "more in" lists are the same for every visitor. The cache key is a hash of everything a
card reads (id, name, image, thumbnail, prices, sold out or not, score) plus the list's name, so a
cached fragment can never show a product differently from the rows just read: the lists themselves
are still read fresh on every request, and a product that sold out, changed price or left the list
changes the key at once. Per-shopper lists ("Recommended for you") are not rendered through this tag.
"""

import hashlib

from django import template
from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

CARD_TEMPLATE = "shop/_product_card.html"


def _card_fields(product, score: float | None) -> tuple:
    """What shop/_product_card.html (and _price.html) shows of a product."""
    return (
        product.pk,
        product.name,
        product.image.name or "",
        product.thumbnail_url,
        str(product.price),
        str(product.discounted_price),
        product.stock > 0,
        score,
    )


def product_cards_key(items: list, ref: str) -> str:
    cards = [_card_fields(*_product_score(item)) for item in items]
    return "cards:" + hashlib.sha256(repr((ref, cards)).encode()).hexdigest()


def _product_score(item) -> tuple:
    # SimilarProduct (product, score) or a plain Product.
    product = getattr(item, "product", item)
    return product, getattr(item, "score", None)


@register.simple_tag
def product_cards(items: list, ref: str, scored: bool = True) -> SafeString:
    """The <li> cards of a list (SimilarProduct or Product items), each naming `ref` as its list;
    with scored, each shows its "% match". Cached PRODUCT_CARDS_CACHE_SECONDS per process."""
    seconds = settings.PRODUCT_CARDS_CACHE_SECONDS
    key = product_cards_key(items, f"{ref}:{scored}") if seconds > 0 else None
    if key and (html := cache.get(key)) is not None:
        return mark_safe(html)  # noqa: S308 (rendered by the template below, autoescaped)
    html = "".join(
        render_to_string(CARD_TEMPLATE, {"product": product, "score": score if scored else None, "ref": ref})
        for product, score in map(_product_score, items)
    )
    if key:
        cache.set(key, html, seconds)
    return mark_safe(html)  # noqa: S308
