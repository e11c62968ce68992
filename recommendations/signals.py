"""Enqueue embedding work when a product's image changes, and give each database connection
the vector-search settings; nothing else happens here."""

from django.db.backends.signals import connection_created
from django.db.models.signals import post_save
from django.dispatch import receiver

from shop.models import Product


@receiver(post_save, sender=Product, dispatch_uid="product_embedding_schedule")
def product_saved(sender, instance: Product, **kwargs) -> None:
    from recommendations.services import product_embedding_schedule

    product_embedding_schedule(product=instance)


@receiver(connection_created, dispatch_uid="vector_search_session")
def connection_ready(sender, connection, **kwargs) -> None:
    if connection.vendor == "postgresql":
        from recommendations.selectors import search_session_configure

        search_session_configure(connection)
