from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Shop"

    def ready(self) -> None:
        from django.conf import settings
        from PIL import Image

        # Also guards Django's own ImageField checks against decompression bombs.
        Image.MAX_IMAGE_PIXELS = settings.IMAGE_MAX_PIXELS

        from shop import (
            login_throttle,  # noqa: F401  (counts failed logins)
            signals,  # noqa: F401  (thumbnails on image change, cart merge on login)
        )
