from django import forms
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from recommendations.selectors import products_with_embedding_status
from recommendations.services import embeddings_recompute
from shop.account_views import LoginThrottleFormMixin
from shop.forms import ProductAdminForm
from shop.models import Category, Order, OrderLine, Product
from shop.services import category_create, category_level_check, category_update


class AdminLoginForm(LoginThrottleFormMixin, AdminAuthenticationForm):
    """The admin's login says when it is locked out after too many failed logins."""


admin.site.login_form = AdminLoginForm


class CategoryAdminForm(forms.ModelForm):
    """Name and parent only: the level follows from the parent, by the rules category_create keeps."""

    class Meta:
        model = Category
        fields = ["name", "parent"]

    def clean(self):
        cleaned = super().clean()
        if "parent" in cleaned:
            category = self.instance if self.instance.pk else None
            try:
                self.instance.level = category_level_check(category=category, parent=cleaned["parent"])
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    form = CategoryAdminForm
    list_display = ["__str__", "level"]
    list_filter = ["level"]
    search_fields = ["name"]
    readonly_fields = ["level"]

    def save_model(self, request: HttpRequest, obj: Category, form, change: bool) -> None:
        # The services write, so the admin and the API keep one set of rules.
        data = {"name": form.cleaned_data["name"], "parent": form.cleaned_data["parent"]}
        if change:
            category = Category.objects.get(pk=obj.pk)
            form.instance = category_update(category=category, data=data)
        else:
            form.instance = category_create(**data)
        obj.pk, obj.level = form.instance.pk, form.instance.level


class EmbeddingStatusFilter(admin.SimpleListFilter):
    title = "embedding"
    parameter_name = "embedding"

    def lookups(self, request, model_admin):
        return [("ready", "Ready"), ("pending", "Pending"), ("failed", "Failed"), ("missing", "Missing")]

    def queryset(self, request, queryset):
        if self.value() == "missing":
            return queryset.filter(embedding_status__isnull=True)
        if self.value():
            return queryset.filter(embedding_status=self.value())
        return queryset


class InStockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        return [("in", "In stock"), ("out", "Out of stock")]

    def queryset(self, request, queryset):
        if self.value() == "in":
            return queryset.filter(stock__gt=0)
        if self.value() == "out":
            return queryset.filter(stock=0)
        return queryset


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductAdminForm
    # "list_image", not "thumbnail": a method named like the model field is ignored for the field.
    # Compact columns (article type, date) so price, stock and embedding fit at 1440 px with the sidebars.
    list_display = [
        "list_image",
        "name",
        "sku",
        "list_article_type",
        "price",
        "stock",
        "embedding",
        "is_active",
        "updated",
    ]
    list_display_links = ["list_image", "name"]
    list_filter = [EmbeddingStatusFilter, "is_active", InStockFilter, "gender", "category__parent__parent"]
    search_fields = ["name", "sku", "brand"]
    readonly_fields = ["image_preview", "image_sha256", "created_at", "updated_at"]
    autocomplete_fields = ["category"]
    actions = ["recompute_embeddings"]
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return products_with_embedding_status(super().get_queryset(request).select_related("category"))

    @admin.display(description="image")
    def list_image(self, product: Product) -> str:
        if not product.image:
            return "—"
        return format_html(
            '<img src="{}" alt="" width="48" height="64" style="object-fit:cover">', product.thumbnail_url
        )

    @admin.display(description="article type", ordering="category__name")
    def list_article_type(self, product: Product) -> str:
        if product.category is None:
            return "—"
        return format_html('<span title="{}">{}</span>', product.category, product.category.name)

    @admin.display(description="updated", ordering="updated_at")
    def updated(self, product: Product) -> str:
        return format_html(
            '<time datetime="{}">{}</time>', product.updated_at.isoformat(), f"{product.updated_at:%Y-%m-%d}"
        )

    @admin.display(description="preview")
    def image_preview(self, product: Product) -> str:
        if not product.image:
            return "—"
        return format_html('<img src="{}" alt="" style="max-width:240px;max-height:320px">', product.image.url)

    @admin.display(description="embedding", ordering="embedding_status")
    def embedding(self, product: Product) -> str:
        status = getattr(product, "embedding_status", None)
        if status is None:
            return "missing" if product.image else "no image"
        if status == "failed":
            return format_html(
                '<span title="{}">failed: {}</span>', product.embedding_error, product.embedding_error[:80]
            )
        return status

    @admin.action(description="Recompute embeddings of the selected products")
    def recompute_embeddings(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        count = embeddings_recompute(product_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"Queued {count} products for new embeddings.", messages.SUCCESS)


# --- Orders ---


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    # What was sold at which price is history: frozen at order time.
    fields = ["product", "sku", "product_name", "unit_price", "quantity", "line_total"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="line total")
    def line_total(self, line: OrderLine) -> str:
        return f"{line.line_total}"


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "full_name", "email", "user", "status", "total"]
    list_display_links = ["id", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["id", "email", "full_name", "lines__sku"]
    date_hierarchy = "created_at"
    inlines = [OrderLineInline]
    # Staff move an order through its statuses; what was bought, by whom and for how much stays.
    readonly_fields = ["user", "email", "payment_method", "total", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["status", "payment_method", "total", "user", "email", "created_at", "updated_at"]}),
        (
            "Shipping",
            {"fields": ["full_name", "address_line1", "address_line2", "city", "postal_code", "country", "phone"]},
        ),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders come from checkout, which checks stock and freezes prices

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return super().get_queryset(request).select_related("user")
