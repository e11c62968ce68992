"""Serializers of the REST API (shop/apis.py): input parsing and output shapes, no business rules."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from shop.images import validate_image_file
from shop.models import Category, Order, Product


def _absolute(request, url: str) -> str | None:
    return request.build_absolute_uri(url) if url else None


# --- Categories ---


class CategoryRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CategorySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    level = serializers.IntegerField(help_text="0 master category, 1 sub-category, 2 article type.")
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    path = serializers.SerializerMethodField(help_text="This category and its ancestors, root first.")

    @extend_schema_field(CategoryRefSerializer(many=True))
    def get_path(self, category: Category) -> list[dict]:
        return [{"id": node.pk, "name": node.name} for node in category.path()]


class ArticleTypeNodeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    level = serializers.IntegerField()
    product_count = serializers.IntegerField(help_text="Active products in this category and below it.")


class SubCategoryNodeSerializer(ArticleTypeNodeSerializer):
    children = ArticleTypeNodeSerializer(many=True, help_text="Article types.")


class CategoryTreeSerializer(ArticleTypeNodeSerializer):
    """A master category with its sub-categories and their article types."""

    children = SubCategoryNodeSerializer(many=True, help_text="Sub-categories.")


class CategoryInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    parent = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(),
        allow_null=True,
        required=False,
        default=None,
        help_text="The parent category's id; null (or left out) for a master category.",
    )


class CategoryUpdateSerializer(CategoryInputSerializer):
    name = serializers.CharField(max_length=100, required=False)
    parent = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(), allow_null=True, required=False, help_text="Move under this category."
    )


# --- Products ---


class ProductSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    url = serializers.SerializerMethodField(help_text="The storefront page.")
    image_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    category = CategoryRefSerializer(allow_null=True, help_text="The article type.")
    sub_category = CategoryRefSerializer(allow_null=True)
    master_category = CategoryRefSerializer(allow_null=True)
    gender = serializers.CharField()
    base_colour = serializers.CharField()
    season = serializers.CharField()
    year = serializers.IntegerField(allow_null=True)
    usage = serializers.CharField()
    brand = serializers.CharField()
    description = serializers.CharField()
    price = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)
    discounted_price = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)
    unit_price = serializers.DecimalField(
        max_digits=10, decimal_places=2, allow_null=True, help_text="What one costs: the discounted price if any."
    )
    stock = serializers.IntegerField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_url(self, product: Product) -> str:
        return self.context["request"].build_absolute_uri(product.get_absolute_url())

    def get_image_url(self, product: Product) -> str | None:
        return _absolute(self.context["request"], product.image.url if product.image else "")

    def get_thumbnail_url(self, product: Product) -> str | None:
        return _absolute(self.context["request"], product.thumbnail_url)


class ProductInputSerializer(serializers.Serializer):
    """Fields staff may set; `image` is a multipart upload, fully decoded before it is accepted."""

    sku = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=300)
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.filter(level=Category.Level.ARTICLE),
        allow_null=True,
        required=False,
        help_text="An article type (level-2 category) id.",
        error_messages={"does_not_exist": "No article type (level-2 category) with id {pk_value}."},
    )
    gender = serializers.CharField(max_length=20, required=False, allow_blank=True)
    base_colour = serializers.CharField(max_length=40, required=False, allow_blank=True)
    season = serializers.CharField(max_length=20, required=False, allow_blank=True)
    year = serializers.IntegerField(min_value=1900, max_value=2100, allow_null=True, required=False)
    usage = serializers.CharField(max_length=40, required=False, allow_blank=True)
    brand = serializers.CharField(max_length=100, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    price = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0, allow_null=True, required=False)
    discounted_price = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=0, allow_null=True, required=False
    )
    image = serializers.FileField(
        required=False,
        allow_empty_file=True,  # validate_image_file says "The file is empty." like every other entry point
        validators=[validate_image_file],
        help_text="JPEG, PNG, GIF, WebP, BMP or TIFF, up to IMAGE_MAX_UPLOAD_BYTES (10 MB by default).",
    )
    stock = serializers.IntegerField(min_value=0, max_value=2_147_483_647, required=False)
    # A default, or multipart input without the field would mean False (DRF's HTML-form rule).
    is_active = serializers.BooleanField(required=False, default=True)


# --- Authentication ---


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")


# --- Cart and orders ---


class ProductBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    url = serializers.SerializerMethodField(help_text="The storefront page.")
    thumbnail_url = serializers.SerializerMethodField()

    def get_url(self, product: Product) -> str:
        return self.context["request"].build_absolute_uri(product.get_absolute_url())

    def get_thumbnail_url(self, product: Product) -> str | None:
        return _absolute(self.context["request"], product.thumbnail_url)


class CartLineSerializer(serializers.Serializer):
    product = ProductBriefSerializer()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    problem = serializers.CharField(
        allow_null=True, help_text="Why this line cannot be ordered as it is (out of stock, ...), or null."
    )


class CartSerializer(serializers.Serializer):
    lines = CartLineSerializer(many=True)
    count = serializers.IntegerField(help_text="Units in the cart.")
    total = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="The orderable lines at today's prices."
    )
    is_orderable = serializers.BooleanField(help_text="True when the cart has lines and none has a problem.")


class CartLineInputSerializer(serializers.Serializer):
    product = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="A product id.")
    quantity = serializers.IntegerField(min_value=1, max_value=2_147_483_647, default=1)


class CartLineUpdateSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=0, max_value=2_147_483_647, help_text="0 removes the line.")


class OrderLineSerializer(serializers.Serializer):
    product = serializers.IntegerField(
        source="product_id", allow_null=True, help_text="Null once the product has been deleted."
    )
    sku = serializers.CharField()
    product_name = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=10, decimal_places=2)
    quantity = serializers.IntegerField()
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2)


class OrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Order.Status.choices)
    payment_method = serializers.ChoiceField(choices=Order.PaymentMethod.choices)
    email = serializers.EmailField()
    full_name = serializers.CharField()
    address_line1 = serializers.CharField()
    address_line2 = serializers.CharField()
    city = serializers.CharField()
    postal_code = serializers.CharField()
    country = serializers.CharField()
    phone = serializers.CharField()
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    created_at = serializers.DateTimeField()
    lines = OrderLineSerializer(many=True)


class CheckoutInputSerializer(serializers.Serializer):
    """Shipping and contact details; checked again (postal code, phone) by the checkout service."""

    email = serializers.EmailField(max_length=254)
    full_name = serializers.CharField(max_length=200)
    address_line1 = serializers.CharField(max_length=200)
    address_line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100)
    postal_code = serializers.CharField(max_length=20)
    country = serializers.CharField(max_length=100)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    expected_total = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        help_text="The total the shopper was shown; if prices changed since, the order is refused (409).",
    )
