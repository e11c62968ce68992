"""Enqueue thumbnail work when a product's image changes; nothing else happens here."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from shop.models import Product


@receiver(post_save, sender=Product, dispatch_uid="product_thumbnail_schedule")
def product_saved(sender, instance: Product, raw: bool = False, **kwargs) -> None:
    from shop.thumbnails import product_thumbnail_schedule

    if not raw:  # fixtures loaded with loaddata carry their own thumbnail columns
        product_thumbnail_schedule(product=instance)
