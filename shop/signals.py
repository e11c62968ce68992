"""Signal receivers of the shop: only hand-offs to services."""

from django.contrib import messages
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from shop.cart import cart_merge_on_login


@receiver(user_logged_in, dispatch_uid="shop_cart_merge_on_login")
def cart_merge_on_login_receiver(sender, request, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    for note in cart_merge_on_login(user=user, session=request.session):
        messages.warning(request, note, fail_silently=True)
