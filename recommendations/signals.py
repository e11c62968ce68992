"""Enqueue embedding work when a product's image changes; nothing else happens here."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from shop.models import Product


@receiver(post_save, sender=Product, dispatch_uid="product_embedding_schedule")
def product_saved(sender, instance: Product, **kwargs) -> None:
    from recommendations.services import product_embedding_schedule

    product_embedding_schedule(product=instance)
