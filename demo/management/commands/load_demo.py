"""python manage.py load_demo: an admin user, a catalogue and a shopping history, so the shop has something to show."""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from demo.catalog import demo_stock, generate_demo_catalog
from demo.history import demo_history_load
from demo.prices import demo_prices_fill
from shop.models import Product
from shop.services import product_stock_set


class Command(BaseCommand):
    help = (
        "Create the demo admin (credentials kept in var/demo-admin.txt) and import a catalogue: "
        "DEMO_DATASET=PATH (or --dataset) in the Kaggle layout, else a generated one. Products without "
        "a price get a demo price by article type. Then a shopping history (DEMO_INTERACTIONS=PATH with "
        "DEMO_INTERACTIONS_LAYOUT imported by import_interactions, else a seeded one of DEMO_SHOPPERS shoppers) "
        "and the behavioural recommenders trained on it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dataset", type=Path, default=settings.DEMO_DATASET)
        parser.add_argument("--count", type=int, default=settings.DEMO_PRODUCTS)
        parser.add_argument("--interactions", type=Path, default=settings.DEMO_INTERACTIONS)
        parser.add_argument("--interactions-layout", default=settings.DEMO_INTERACTIONS_LAYOUT)
        parser.add_argument("--shoppers", type=int, default=settings.DEMO_SHOPPERS)

    def handle(
        self,
        *args,
        dataset: Path | None,
        count: int,
        interactions: Path | None,
        interactions_layout: str | None,
        shoppers: int,
        **options,
    ) -> None:
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
        self._history(interactions, interactions_layout, shoppers)

    def _history(self, interactions: Path | None, layout: str | None, shoppers: int) -> None:
        """Shoppers' events for "Customers who bought this also bought", then the recommenders trained."""
        try:
            demo_history_load(interactions=interactions, layout=layout, shoppers=shoppers, stdout=self.stdout)
        except ValueError as exc:
            raise CommandError(str(exc)) from None

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
