from django.contrib import admin

from recommendations.models import ProductEmbedding


@admin.register(ProductEmbedding)
class ProductEmbeddingAdmin(admin.ModelAdmin):
    list_display = ["product", "model_name", "status", "error", "attempts", "queued_at", "computed_at"]
    list_filter = ["model_name", "status"]
    search_fields = ["product__name", "product__sku"]
    exclude = ["vector"]
    readonly_fields = [f.name for f in ProductEmbedding._meta.fields if f.name != "vector"]

    def has_add_permission(self, request) -> bool:
        return False
