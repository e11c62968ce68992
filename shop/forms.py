from django import forms
from django.conf import settings

from shop.images import ImageError, load_image
from shop.models import Product
from shop.selectors import SORT_CHOICES, ProductFilters


class MultipleValueField(forms.Field):
    """Repeated query parameters (?colour=Blue&colour=Red) as a tuple of non-empty strings."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *, max_length: int = 100, max_values: int = 50, **kwargs):
        self.max_length, self.max_values = max_length, max_values
        super().__init__(required=False, **kwargs)

    def to_python(self, value) -> tuple[str, ...]:
        values = value if isinstance(value, list | tuple) else ([value] if value else [])
        cleaned = tuple(dict.fromkeys(v.strip() for v in values if isinstance(v, str) and v.strip()))
        if len(cleaned) > self.max_values:
            raise forms.ValidationError(f"At most {self.max_values} values can be chosen.", code="too_many")
        if any(len(v) > self.max_length for v in cleaned):
            raise forms.ValidationError(f"Values are at most {self.max_length} characters long.", code="too_long")
        return cleaned


class ProductFilterForm(forms.Form):
    """Listing filters from the query string. Invalid fields are reported and ignored, never fatal."""

    q = forms.CharField(label="Search", max_length=200, required=False)
    gender = MultipleValueField(label="Gender")
    article_type = MultipleValueField(label="Type")
    colour = MultipleValueField(label="Colour")
    season = MultipleValueField(label="Season")
    usage = MultipleValueField(label="Usage")
    price_min = forms.DecimalField(label="Min price (₹)", min_value=0, max_digits=10, decimal_places=2, required=False)
    price_max = forms.DecimalField(label="Max price (₹)", min_value=0, max_digits=10, decimal_places=2, required=False)
    sort = forms.ChoiceField(label="Sort by", choices=[("", "Default"), *SORT_CHOICES.items()], required=False)

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("price_min"), cleaned.get("price_max")
        if low is not None and high is not None and low > high:
            self.add_error("price_max", "The maximum price must not be below the minimum price.")
        return cleaned

    def filters(self, *, category_id: int | None = None) -> ProductFilters:
        """The valid part of the input as ProductFilters (call after is_valid())."""
        data = getattr(self, "cleaned_data", {})
        return ProductFilters(
            q=data.get("q", ""),
            category_id=category_id,
            gender=data.get("gender", ()),
            article_type=data.get("article_type", ()),
            colour=data.get("colour", ()),
            season=data.get("season", ()),
            usage=data.get("usage", ()),
            price_min=data.get("price_min"),
            price_max=data.get("price_max"),
            sort=data.get("sort", ""),
        )


class PhotoSearchForm(forms.Form):
    image = forms.FileField(
        label="Photo of an item",
        help_text="JPEG, PNG, GIF, WebP, BMP or TIFF, up to 10 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
    )
    k = forms.IntegerField(
        label="Results", min_value=1, max_value=settings.SEARCH_RESULTS_MAX, initial=12, required=False
    )

    def clean_image(self):
        upload = self.cleaned_data["image"]
        try:
            self.cleaned_data["picture"] = load_image(upload)
        except ImageError as exc:
            raise forms.ValidationError(str(exc), code="invalid_image") from None
        return upload


class ProductAdminForm(forms.ModelForm):
    """Decodes the uploaded image fully, so a broken file is refused with the reason."""

    class Meta:
        model = Product
        fields = [
            "sku",
            "name",
            "category",
            "image",
            "price",
            "discounted_price",
            "brand",
            "description",
            "gender",
            "base_colour",
            "season",
            "year",
            "usage",
            "is_active",
        ]

    def clean_image(self):
        image = self.cleaned_data.get("image")
        if image and hasattr(image, "content_type"):  # a new upload, not the stored file
            try:
                load_image(image)
            except ImageError as exc:
                raise forms.ValidationError(str(exc), code="invalid_image") from None
        return image
