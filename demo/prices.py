"""Demo prices: `load_demo` gives products without a price a plausible one, so the demo can sell.

The Kaggle sample has no `styles/<id>.json`, hence no prices, and a shop without prices sells
nothing. These prices are demo data, made up per article type in rupees like the dataset's
own; `import_catalog` never invents a price, only the demo does.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from demo.catalog import _ARTICLES
from shop.models import Product

# Rupee ranges of the article types the real dataset has most of (Myntra's 2019 prices as a guide),
# besides those of the drawn catalogue (demo.catalog._ARTICLES).
ARTICLE_PRICES: dict[str, tuple[int, int]] = {
    "Kurtas": (499, 2499),
    "Kurtis": (399, 1499),
    "Kurta Sets": (999, 3999),
    "Sarees": (799, 4999),
    "Tunics": (399, 1499),
    "Heels": (799, 3499),
    "Flats": (499, 1999),
    "Sports Sandals": (699, 2499),
    "Briefs": (199, 699),
    "Bra": (299, 1299),
    "Socks": (99, 399),
    "Innerwear Vests": (199, 599),
    "Trunk": (199, 599),
    "Boxers": (299, 799),
    "Track Pants": (599, 1999),
    "Leggings": (299, 899),
    "Capris": (399, 1299),
    "Sweaters": (799, 2999),
    "Night suits": (599, 1999),
    "Nightdress": (499, 1499),
    "Ties": (299, 1299),
    "Cufflinks": (299, 1499),
    "Wallets": (399, 1999),
    "Clutches": (599, 2499),
    "Laptop Bag": (999, 3999),
    "Duffel Bag": (999, 3499),
    "Earrings": (199, 1499),
    "Ring": (199, 1999),
    "Pendant": (299, 2499),
    "Necklace and Chains": (299, 2499),
    "Bangle": (199, 999),
    "Stoles": (299, 999),
    "Dupatta": (299, 999),
    "Scarves": (299, 999),
    "Mufflers": (299, 899),
    "Perfume and Body Mist": (399, 2999),
    "Deodorant": (149, 399),
    "Nail Polish": (99, 399),
    "Lipstick": (199, 899),
    "Lip Gloss": (199, 699),
    "Kajal and Eyeliner": (149, 599),
    "Free Gifts": (99, 299),
}
# Then by master category (the dataset's six and the drawn ones), then anything else.
MASTER_PRICES: dict[str, tuple[int, int]] = {
    "Apparel": (499, 2499),
    "Footwear": (699, 3499),
    "Accessories": (299, 2499),
    "Personal Care": (149, 999),
    "Free Items": (99, 299),
    "Sporting Goods": (499, 2999),
    "Home": (299, 1999),
}
DEFAULT_PRICES = (299, 1999)


def demo_price_range(*, article_type: str, master_category: str) -> tuple[int, int]:
    """The rupee range a demo price of this article type is drawn from."""
    if article_type in _ARTICLES:
        return _ARTICLES[article_type]["price"]
    return ARTICLE_PRICES.get(article_type) or MASTER_PRICES.get(master_category) or DEFAULT_PRICES


def demo_price(*, sku: str, article_type: str, master_category: str) -> tuple[Decimal, Decimal | None]:
    """A price in the type's range ending in 99 or 49 like a shop's, and sometimes a discount;
    the same for the same SKU every run (hashed, not random)."""
    low, high = demo_price_range(article_type=article_type, master_category=master_category)
    digest = int.from_bytes(hashlib.sha256(f"demo-price:{sku}".encode()).digest()[:8], "big")
    hundreds = range((low + 99) // 100, high // 100 + 1) or range(max(1, high // 100), max(1, high // 100) + 1)
    price = hundreds[digest % len(hundreds)] * 100 - (1 if (digest >> 8) % 2 else 51)
    price = max(low, min(high, price))
    discount = (0, 0, 0, 0, 0, 0, 0, 10, 20, 30, 40, 50)[(digest >> 20) % 12]  # 5 in 12 on sale
    if not discount:
        return Decimal(price), None
    return Decimal(price), Decimal(max(1, round(price * (100 - discount) / 100)))


def demo_prices_fill() -> int:
    """Give every product without a price a demo price; returns how many got one.

    Products with a price, from the dataset or set in the admin, are left as they are.
    """
    now = timezone.now()
    products = Product.objects.filter(price__isnull=True, discounted_price__isnull=True).select_related(
        "category__parent__parent"
    )
    count = 0
    with transaction.atomic():
        for product in products.iterator():
            category = product.category
            article = category.name if category else ""
            master = category.parent.parent.name if category and category.parent and category.parent.parent else ""
            price, discounted = demo_price(sku=product.sku, article_type=article, master_category=master)
            # update(): only the price changes, so no embedding or thumbnail is scheduled again.
            Product.objects.filter(pk=product.pk).update(price=price, discounted_price=discounted, updated_at=now)
            count += 1
    return count
