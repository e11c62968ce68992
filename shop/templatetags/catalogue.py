"""Template helpers for the storefront's header."""

from django import template

from shop.selectors import category_tree

register = template.Library()


@register.inclusion_tag("shop/_category_menu.html")
def category_menu() -> dict:
    """The header's category menu: master categories and their sub-categories (two queries)."""
    return {"categories": category_tree()}
