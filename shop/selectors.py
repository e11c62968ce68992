"""Reads on the catalogue for the storefront."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from shop.models import Product


def product_list() -> QuerySet[Product]:
    return Product.objects.filter(is_active=True).select_related("category").order_by("-created_at", "-id")


def product_get(*, product_id: int) -> Product:
    return get_object_or_404(Product.objects.select_related("category__parent__parent"), pk=product_id, is_active=True)
