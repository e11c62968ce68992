"""Template helpers for the storefront: the header's category menu, prices."""

from django import template
from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from shop.prices import format_price
from shop.selectors import category_tree

register = template.Library()

MENU_CACHE_KEY = "shop:category-menu"


@register.simple_tag
def category_menu() -> SafeString:
    """The header's category menu: master categories and their sub-categories.

    Kept in the cache for CATEGORY_MENU_CACHE_SECONDS: it is on every page, and building it
    counts the products of every category and reverses a URL per link.
    """
    html = cache.get(MENU_CACHE_KEY)
    if html is None:
        html = render_to_string("shop/_category_menu.html", {"categories": category_tree()})
        cache.set(MENU_CACHE_KEY, html, settings.CATEGORY_MENU_CACHE_SECONDS)
    return html


@register.filter
def rupees(amount) -> str:
    """A price as shop.prices.format_price writes it (₹1,220 or ₹1,220.50)."""
    return format_price(amount)
