"""Signal receivers of the shop: only hand-offs to services."""

from django.contrib import messages
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from django.dispatch import receiver

from shop.cart import cart_merge_on_login
from shop.models import Product


@receiver(user_logged_in, dispatch_uid="shop_cart_merge_on_login")
def cart_merge_on_login_receiver(sender, request, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    for note in cart_merge_on_login(user=user, session=request.session):
        messages.warning(request, note, fail_silently=True)


@receiver(post_save, sender=Product, dispatch_uid="product_thumbnail_schedule")
def product_saved(sender, instance: Product, raw: bool = False, **kwargs) -> None:
    """Enqueue thumbnail work when a product's image changes."""
    from shop.thumbnails import product_thumbnail_schedule

    if not raw:  # fixtures loaded with loaddata carry their own thumbnail columns
        product_thumbnail_schedule(product=instance)
