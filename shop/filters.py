"""The listing's query parameters, one definition for the storefront pages and the API.

`ProductFilterSet` validates `q`, `category`, `gender`, `article_type`, `colour`, `season`, `usage`,
`price_min`, `price_max` and `sort` the same way wherever they arrive; the filtering itself (and
the disjunctive facet counts) stays in `shop.selectors`, which get the valid parameters as
`ProductFilters`.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from shop.models import Product
from shop.selectors import SORT_CHOICES, ProductFilters, product_search

MULTIPLE_VALUES_MAX = 50
VALUE_LENGTH_MAX = 100
QUERY_LENGTH_MAX = 200
# The id column is a bigint: a larger number would reach PostgreSQL and fail there.
ID_MAX = 2**63 - 1
_FROM_QUERY = object()


class MultipleValueField(forms.Field):
    """Repeated query parameters (?colour=Blue&colour=Red) as a tuple of non-empty strings."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *, max_length: int = VALUE_LENGTH_MAX, max_values: int = MULTIPLE_VALUES_MAX, **kwargs):
        self.max_length, self.max_values = max_length, max_values
        kwargs["required"] = False
        super().__init__(**kwargs)

    def to_python(self, value) -> tuple[str, ...]:
        values = value if isinstance(value, list | tuple) else ([value] if value else [])
        cleaned = tuple(dict.fromkeys(v.strip() for v in values if isinstance(v, str) and v.strip()))
        if len(cleaned) > self.max_values:
            raise forms.ValidationError(f"At most {self.max_values} values can be chosen.", code="too_many")
        if any(len(v) > self.max_length for v in cleaned):
            raise forms.ValidationError(f"Values are at most {self.max_length} characters long.", code="too_long")
        # PostgreSQL text cannot hold NUL: refused here, as Django's CharField refuses it, not by the database.
        for v in cleaned:
            ProhibitNullCharactersValidator()(v)
        return cleaned


class MultipleValueFilter(django_filters.Filter):
    field_class = MultipleValueField


class IntegerFilter(django_filters.Filter):
    field_class = forms.IntegerField


class SortFilter(django_filters.Filter):
    field_class = forms.ChoiceField


class ProductFilterForm(forms.Form):
    """Checks across fields; the fields come from ProductFilterSet's filters."""

    def clean(self) -> dict:
        cleaned = super().clean()
        low, high = cleaned.get("price_min"), cleaned.get("price_max")
        if low is not None and high is not None and low > high:
            self.add_error("price_max", "The maximum price must not be below the minimum price.")
        return cleaned


class ProductFilterSet(django_filters.FilterSet):
    """The listing filters of /products/, /search/, /categories/<id>/ and GET /api/products/.

    Pages pass `category_id` (from their path, or None): `?category=` is then no page parameter.
    The API leaves it out and reads `?category=`. Invalid fields are left out of `product_filters()`,
    so a page can still show the valid part; `errors` says what was wrong.
    """

    q = django_filters.CharFilter(label="Search", max_length=QUERY_LENGTH_MAX, help_text="Text search.")
    category = IntegerFilter(
        label="Category",
        min_value=1,
        max_value=ID_MAX,
        help_text="A category id of any level: products in it and below it.",
    )
    gender = MultipleValueFilter(label="Gender")
    article_type = MultipleValueFilter(label="Type", help_text="Article type names.")
    colour = MultipleValueFilter(label="Colour")
    season = MultipleValueFilter(label="Season")
    usage = MultipleValueFilter(label="Usage")
    price_min = django_filters.NumberFilter(
        label="Min price (₹)", min_value=0, max_digits=10, decimal_places=2, help_text="Lowest unit price."
    )
    price_max = django_filters.NumberFilter(
        label="Max price (₹)", min_value=0, max_digits=10, decimal_places=2, help_text="Highest unit price."
    )
    sort = SortFilter(
        label="Sort by",
        choices=[("", "Default"), *SORT_CHOICES.items()],
        help_text="Default: relevance with `q`, else newest.",
    )

    class Meta:
        model = Product
        fields: list[str] = []
        form = ProductFilterForm

    def __init__(self, data=None, queryset=None, *, category_id: int | None | object = _FROM_QUERY, **kwargs):
        super().__init__(data, queryset, **kwargs)
        self.category_id = category_id
        if category_id is not _FROM_QUERY:
            del self.filters["category"]

    def product_filters(self) -> ProductFilters:
        """The valid part of the parameters."""
        data = {}
        if self.is_bound:
            self.form.errors  # noqa: B018  (cleans the form once; invalid fields stay out of cleaned_data)
            data = self.form.cleaned_data
        return ProductFilters(
            q=data.get("q") or "",
            category_id=data.get("category") if self.category_id is _FROM_QUERY else self.category_id,
            gender=data.get("gender", ()),
            article_type=data.get("article_type", ()),
            colour=data.get("colour", ()),
            season=data.get("season", ()),
            usage=data.get("usage", ()),
            price_min=data.get("price_min"),
            price_max=data.get("price_max"),
            sort=data.get("sort") or "",
        )

    def filter_queryset(self, queryset: QuerySet[Product]) -> QuerySet[Product]:
        # Filtering, ranking and sorting are the selector's, shared with the facet counts; the
        # selector starts from the active products, so the base queryset adds nothing.
        return product_search(filters=self.product_filters())

    @classmethod
    def schema_parameters(cls) -> list[OpenApiParameter]:
        """The filters as OpenAPI query parameters (drf-spectacular) for GET /api/products/."""
        parameters = []
        for name, filter_ in cls.base_filters.items():
            field = filter_.field
            kind, many, extra = OpenApiTypes.STR, False, {}
            if isinstance(field, MultipleValueField):
                many = True
            elif isinstance(field, forms.IntegerField):
                kind = OpenApiTypes.INT
            elif isinstance(field, forms.DecimalField):
                kind = OpenApiTypes.DECIMAL
            elif isinstance(field, forms.ChoiceField):
                extra["enum"] = [value for value, _ in field.choices if value]
            parameters.append(
                OpenApiParameter(
                    name,
                    kind,
                    OpenApiParameter.QUERY,
                    many=many,
                    description=" ".join(
                        part
                        for part in (
                            str(field.help_text or field.label),
                            f"May repeat (either value), up to {MULTIPLE_VALUES_MAX} values." if many else "",
                        )
                        if part
                    ),
                    **extra,
                )
            )
        return parameters
