from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from recommendations.selectors import products_with_embedding_status
from recommendations.services import embeddings_recompute
from shop.forms import ProductAdminForm
from shop.models import Category, Product


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["__str__", "level"]
    list_filter = ["level"]
    search_fields = ["name"]


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


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductAdminForm
    list_display = ["thumbnail", "name", "sku", "category", "price", "embedding", "is_active", "updated_at"]
    list_display_links = ["thumbnail", "name"]
    list_filter = [EmbeddingStatusFilter, "is_active", "gender", "category__parent__parent"]
    search_fields = ["name", "sku", "brand"]
    readonly_fields = ["image_preview", "image_sha256", "created_at", "updated_at"]
    autocomplete_fields = ["category"]
    actions = ["recompute_embeddings"]
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return products_with_embedding_status(super().get_queryset(request).select_related("category"))

    @admin.display(description="image")
    def thumbnail(self, product: Product) -> str:
        if not product.image:
            return "—"
        return format_html('<img src="{}" alt="" width="48" height="64" style="object-fit:cover">', product.image.url)

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
