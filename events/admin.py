from django.contrib import admin

from events.models import Interaction


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    """The event log, read-only: what the shop recorded (or imported), newest first."""

    list_display = ["created_at", "kind", "product", "user", "session_key", "customer_key", "quantity", "source_list"]
    list_filter = ["kind", "surface", "source"]
    search_fields = ["product__sku", "user__username", "customer_key", "basket"]
    date_hierarchy = "created_at"
    list_select_related = ["product", "user"]
    raw_id_fields = ["product", "user"]
    show_full_result_count = False  # COUNT(*) of a large log on every page is slow

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
