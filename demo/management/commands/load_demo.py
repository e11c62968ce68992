"""python manage.py load_demo: an admin user and a catalogue, so the shop has something to show."""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from tqdm import tqdm

from demo.catalog import demo_stock, generate_demo_catalog
from demo.prices import demo_prices_fill
from shop.models import Product
from shop.services import product_stock_set


class Command(BaseCommand):
    help = (
        "Create the demo admin (credentials kept in var/demo-admin.txt) and import a catalogue: "
        "DEMO_DATASET=PATH (or --dataset) in the Kaggle layout, else a generated one. Products without "
        "a price get a demo price by article type."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dataset", type=Path, default=settings.DEMO_DATASET)
        parser.add_argument("--count", type=int, default=settings.DEMO_PRODUCTS)

    def handle(self, *args, dataset: Path | None, count: int, **options) -> None:
        var = Path(settings.BASE_DIR) / "var"
        var.mkdir(exist_ok=True)
        self._ensure_admin(var / "demo-admin.txt")
        generated = dataset is None
        if generated:
            dataset = var / f"demo-catalog-{count}"
            if not (dataset / "styles.csv").exists():
                with tqdm(total=count, unit="product", desc="Drawing demo catalogue") as bar:
                    generate_demo_catalog(dataset, count=count, progress=bar.update)
        existing = set(Product.objects.values_list("sku", flat=True))
        call_command("import_catalog", str(dataset), show=5)
        if generated:
            # Varied stock (a few sold out) for the products this run created; re-runs keep what shoppers bought.
            new = Product.objects.exclude(sku__in=existing).values_list("sku", flat=True)
            product_stock_set(stock_by_sku={sku: demo_stock(int(sku)) for sku in new if sku.isdigit()})
        # A shop sells: products without a price (the Kaggle sample has none) get a demo one.
        priced = demo_prices_fill()
        if priced:
            self.stdout.write(
                f"{priced} products had no price and got a demo price by article type (demo data; "
                "import_catalog itself never invents prices)."
            )

    def _ensure_admin(self, credentials: Path) -> None:
        User = get_user_model()
        if credentials.exists() and User.objects.filter(username="admin").exists():
            password = credentials.read_text().strip()
        else:
            password = secrets.token_urlsafe(12)
            user = User.objects.filter(username="admin").first() or User(username="admin", email="admin@example.com")
            user.is_staff = user.is_superuser = True
            user.set_password(password)
            user.save()
            credentials.write_text(password + "\n")
        self.stdout.write(self.style.SUCCESS(f"Admin user: admin / {password}"))
