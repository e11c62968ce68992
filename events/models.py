"""One table of interactions: who did what to which product, when and where.

Who is one of: a logged-in user, an anonymous session (joined to the account on login), or an
imported shopper key (a customer id from a purchase history file, never a Django account). An
imported basket without a customer (an Online Retail invoice without CustomerID) has none of
the three but still has its `basket`, so it counts for "bought together".
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Interaction(models.Model):
    class Kind(models.TextChoices):
        VIEW = "view", _("view")
        ADD_TO_CART = "add_to_cart", _("add to cart")
        REMOVE_FROM_CART = "remove_from_cart", _("remove from cart")
        PURCHASE = "purchase", _("purchase")
        RETURN = "return", _("return")  # an imported cancellation (Online Retail "C" invoices)
        PHOTO_SEARCH_CLICK = "photo_search_click", _("click on a search-by-photo result")
        RECOMMENDATION_CLICK = "recommendation_click", _("click on a recommendation")

    class Surface(models.TextChoices):
        PRODUCT_PAGE = "product_page", _("product page")
        API = "api", _("API")
        CART = "cart", _("cart")
        CHECKOUT = "checkout", _("checkout")
        PHOTO_SEARCH = "photo_search", _("search by photo")
        IMPORT = "import", _("imported history")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,  # a user's events go with the account
        null=True,
        blank=True,
        related_name="interactions",
        verbose_name=_("user"),
    )
    session_key = models.CharField(_("anonymous session"), max_length=40, blank=True)
    customer_key = models.CharField(_("imported shopper key"), max_length=80, blank=True)
    product = models.ForeignKey("shop.Product", models.CASCADE, related_name="interactions", verbose_name=_("product"))
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    # Products in the same basket were bought together: an order id, an invoice number.
    basket = models.CharField(_("basket"), max_length=64, blank=True)
    # For recommendation_click: the list the click came from (similar_items, also_bought, ...).
    source_list = models.CharField(_("recommendation list"), max_length=32, blank=True)
    surface = models.CharField(_("surface"), max_length=24, choices=Surface.choices, blank=True)
    # "shop" for what the shop logged itself, else the imported dataset's layout ("hm", "online-retail").
    source = models.CharField(_("source"), max_length=24, default="shop")
    # Imported rows carry a key unique within their source, so re-running an import duplicates nothing.
    external_id = models.CharField(_("external id"), max_length=120, blank=True)
    # When it happened: imports keep the file's dates, so time-based splits work.
    created_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~models.Q(external_id=""),
                name="interaction_unique_external_id",
            ),
            models.CheckConstraint(
                condition=models.Q(user__isnull=False)
                | ~models.Q(session_key="")
                | ~models.Q(customer_key="")
                | ~models.Q(basket=""),
                name="interaction_has_someone_or_a_basket",
            ),
        ]
        indexes = [
            # Training reads: events of some kinds over a time window.
            models.Index(fields=["kind", "created_at"], name="interaction_kind_time"),
            # "This shopper's recent events".
            models.Index(fields=["user", "-created_at"], name="interaction_user_recent"),
            models.Index(
                fields=["session_key", "-created_at"],
                condition=~models.Q(session_key=""),
                name="interaction_session_recent",
            ),
            models.Index(
                fields=["customer_key", "created_at"],
                condition=~models.Q(customer_key=""),
                name="interaction_customer",
            ),
            models.Index(fields=["basket"], condition=~models.Q(basket=""), name="interaction_basket"),
            models.Index(fields=["product", "kind"], name="interaction_product_kind"),
            # The retention purge deletes by age.
            models.Index(fields=["created_at"], name="interaction_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of product {self.product_id} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def shopper(self) -> str:
        """One key per shopper for training: user, else imported customer, else session."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.customer_key:
            return f"customer:{self.customer_key}"
        if self.session_key:
            return f"session:{self.session_key}"
        return ""


class ListImpression(models.Model):
    """How often a list of recommendations was shown, per day and surface: a counter, not a row per view.

    One statement per rendered page adds 1 to `lists` and the cards shown to `items`
    (events.services.list_impressions_record); clicks are the log's recommendation_click and
    photo_search_click events, so click-through is clicks / lists (or / items).
    """

    day = models.DateField(_("day"))
    # The list's name, as its cards' `ref`: similar_items, also_bought, ..., photo_search.
    surface = models.CharField(_("list"), max_length=32)
    lists = models.PositiveBigIntegerField(_("lists shown"), default=0)
    items = models.PositiveBigIntegerField(_("cards shown"), default=0)

    class Meta:
        verbose_name = _("list impression count")
        verbose_name_plural = _("list impression counts")
        constraints = [models.UniqueConstraint(fields=["day", "surface"], name="impression_one_per_day_surface")]

    def __str__(self) -> str:
        return f"{self.surface} on {self.day}: {self.lists} lists, {self.items} cards"
