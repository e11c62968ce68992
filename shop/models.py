"""The catalogue (categories, products), carts and orders. Nothing here knows about vectors."""

import hashlib
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from shop.images import stored_image_name


class BaseModel(models.Model):
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class Category(BaseModel):
    """A node of the dataset's tree: masterCategory → subCategory → articleType."""

    class Level(models.IntegerChoices):
        MASTER = 0, _("master category")
        SUB = 1, _("sub-category")
        ARTICLE = 2, _("article type")

    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self", models.PROTECT, null=True, blank=True, related_name="children", verbose_name=_("parent")
    )
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices, default=Level.MASTER)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["level", "name"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="category_unique_name_in_parent"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(parent__isnull=True), name="category_unique_root_name"
            ),
        ]

    def __str__(self) -> str:
        return " › ".join(node.name for node in self.path())

    def path(self) -> list["Category"]:
        """This category and its ancestors, root first."""
        nodes = [self]
        while nodes[0].parent_id is not None:
            nodes.insert(0, nodes[0].parent)
        return nodes


# The SKU names the product's image folder: path characters ("/", "..") must never get in.
sku_validator = RegexValidator(
    r"\A[A-Za-z0-9][A-Za-z0-9_.-]*\Z",
    "A SKU may contain only letters, digits, hyphens, underscores and dots, and must start with a letter or digit.",
    code="invalid_sku",
)


def product_image_path(instance: "Product", filename: str) -> str:
    return f"products/{instance.sku}/{filename}"


def product_thumbnail_path(instance: "Product", filename: str) -> str:
    return f"thumbnails/{instance.sku}/{filename}"


class Product(BaseModel):
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=300)
    category = models.ForeignKey(
        Category,
        models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
        verbose_name=_("article type"),
        limit_choices_to={"level": Category.Level.ARTICLE},
    )
    gender = models.CharField(_("gender"), max_length=20, blank=True)
    base_colour = models.CharField(_("base colour"), max_length=40, blank=True)
    season = models.CharField(_("season"), max_length=20, blank=True)
    year = models.PositiveSmallIntegerField(_("year"), null=True, blank=True)
    usage = models.CharField(_("usage"), max_length=40, blank=True)
    brand = models.CharField(_("brand"), max_length=100, blank=True)
    description = models.TextField(_("description"), blank=True)
    price = models.DecimalField(_("price"), max_digits=10, decimal_places=2, null=True, blank=True)
    discounted_price = models.DecimalField(
        _("discounted price"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    image = models.ImageField(_("image"), upload_to=product_image_path, blank=True, max_length=255)
    # Identifies the image content: recommendations compare it to know when to re-embed.
    image_sha256 = models.CharField(_("image SHA-256"), max_length=64, blank=True, editable=False)
    # Small JPEG for listings, made once per image (see image_sha256) by the worker.
    thumbnail = models.ImageField(
        _("thumbnail"), upload_to=product_thumbnail_path, blank=True, editable=False, max_length=255
    )
    thumbnail_sha256 = models.CharField(_("thumbnail source SHA-256"), max_length=64, blank=True, editable=False)
    stock = models.PositiveIntegerField(_("in stock"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    # Text search document: name, category path and attributes. A database trigger (migration
    # 0003) keeps it current on every insert and update, bulk ones included; never set it here.
    search_vector = SearchVectorField(_("search vector"), null=True, editable=False)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["-created_at", "-id"]
        indexes = [
            GinIndex(fields=["search_vector"], name="product_search_vector_gin"),
            GinIndex(fields=["name"], opclasses=["gin_trgm_ops"], name="product_name_trgm"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if self.image and not self.image._committed:
            # Stored under the extension of its real format: the uploaded name's could be ".html".
            self.image.name = stored_image_name(self.image.name, self.image.file)
        # Keep image_sha256 true to the file whichever way the image was set.
        if not self.image:
            self.image_sha256 = ""
        elif not self.image._committed or self.image.name != getattr(self, "_stored_image_name", None):
            self.image_sha256 = file_sha256(self.image)
        super().save(*args, **kwargs)
        self._stored_image_name = self.image.name

    def get_absolute_url(self) -> str:
        return reverse("shop:product_detail", args=[self.pk])

    def clean(self) -> None:
        # Checked here, not as a field validator, so every full_clean (admin, API services) refuses it.
        try:
            sku_validator(self.sku)
        except ValidationError as exc:
            raise ValidationError({"sku": exc.messages}) from None

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._stored_image_name = instance.__dict__.get("image")
        return instance

    @property
    def thumbnail_url(self) -> str:
        """The listing-size image, without a query: the thumbnail once made, until then the view
        that makes it, the full image if it cannot be made, '' without an image."""
        if not self.image:
            return ""
        if self.thumbnail_sha256 == self.image_sha256:
            return self.thumbnail.url if self.thumbnail else self.image.url
        if self.pk is None:
            return self.image.url
        return reverse("shop:product_thumbnail", args=[self.pk])

    @property
    def unit_price(self) -> Decimal | None:
        """What a shopper pays for one: the discounted price when there is one."""
        return self.discounted_price if self.discounted_price is not None else self.price

    @property
    def article_type(self) -> Category | None:
        return self.category

    @property
    def sub_category(self) -> Category | None:
        return self.category.parent if self.category else None

    @property
    def master_category(self) -> Category | None:
        sub = self.sub_category
        return sub.parent if sub else None


def file_sha256(file) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in iter(lambda: file.read(1024 * 1024), b""):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


class Cart(BaseModel):
    """A logged-in shopper's cart; guests keep theirs in the session until they log in."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, models.CASCADE, related_name="cart", verbose_name=_("user"))

    class Meta:
        verbose_name = _("cart")
        verbose_name_plural = _("carts")

    def __str__(self) -> str:
        return f"Cart of {self.user}"


class CartLine(BaseModel):
    cart = models.ForeignKey(Cart, models.CASCADE, related_name="lines", verbose_name=_("cart"))
    product = models.ForeignKey(Product, models.CASCADE, related_name="+", verbose_name=_("product"))
    quantity = models.PositiveIntegerField(_("quantity"), validators=[MinValueValidator(1)])

    class Meta:
        verbose_name = _("cart line")
        verbose_name_plural = _("cart lines")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "product"], name="cartline_unique_product"),
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="cartline_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product}"


class Order(BaseModel):
    class Status(models.TextChoices):
        PLACED = "placed", _("placed")
        SHIPPED = "shipped", _("shipped")
        DELIVERED = "delivered", _("delivered")
        CANCELLED = "cancelled", _("cancelled")

    class PaymentMethod(models.TextChoices):
        PAY_ON_DELIVERY = "pay_on_delivery", _("Pay on delivery")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("user"),
    )
    email = models.EmailField(_("e-mail"))
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PLACED)
    payment_method = models.CharField(
        _("payment method"), max_length=30, choices=PaymentMethod.choices, default=PaymentMethod.PAY_ON_DELIVERY
    )
    full_name = models.CharField(_("full name"), max_length=200)
    address_line1 = models.CharField(_("address line 1"), max_length=200)
    address_line2 = models.CharField(_("address line 2"), max_length=200, blank=True)
    city = models.CharField(_("city"), max_length=100)
    postal_code = models.CharField(_("postal code"), max_length=20)
    country = models.CharField(_("country"), max_length=100)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Order {self.pk}"


class OrderLine(models.Model):
    """A product as it was sold: name, SKU and price are copied, so later edits change nothing."""

    order = models.ForeignKey(Order, models.CASCADE, related_name="lines", verbose_name=_("order"))
    product = models.ForeignKey(
        Product, models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("product")
    )
    sku = models.CharField(_("SKU"), max_length=64)
    product_name = models.CharField(_("product name"), max_length=300)
    unit_price = models.DecimalField(_("unit price"), max_digits=10, decimal_places=2)
    quantity = models.PositiveIntegerField(_("quantity"), validators=[MinValueValidator(1)])

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_name}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity
