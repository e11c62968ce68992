"""The catalogue: categories and products. Nothing here knows about vectors."""

import hashlib

from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


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


def product_image_path(instance: "Product", filename: str) -> str:
    return f"products/{instance.sku}/{filename}"


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
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # Keep image_sha256 true to the file whichever way the image was set.
        if not self.image:
            self.image_sha256 = ""
        elif not self.image._committed or self.image.name != getattr(self, "_stored_image_name", None):
            self.image_sha256 = file_sha256(self.image)
        super().save(*args, **kwargs)
        self._stored_image_name = self.image.name

    def get_absolute_url(self) -> str:
        return reverse("shop:product_detail", args=[self.pk])

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._stored_image_name = instance.__dict__.get("image")
        return instance

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
