import base64
import binascii
from collections.abc import Callable
from functools import partial

from django import forms
from django.conf import settings
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from shop.images import ACCEPTED_LABEL, ImageError, load_image
from shop.models import Category, Product
from shop.selectors import ATTRIBUTE_FIELDS, product_attribute_values

# The photo a search page sends back to switch kinds: a small JPEG (shop.images.image_jpeg_base64),
# so switching never needs the original upload again and nothing is stored on the server.
PHOTO_KEPT_SIDE = 448
PHOTO_KEPT_MAX_CHARS = 400_000


class PhotoSearchForm(forms.Form):
    """A new upload (`image`), or the kept photo of the previous search (`photo`) with a `category`."""

    image = forms.FileField(
        label="Photo of an item",
        help_text="JPEG, PNG, GIF, WebP, BMP or TIFF, up to 10 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
        required=False,
    )
    k = forms.IntegerField(
        label="Results", min_value=1, max_value=settings.SEARCH_RESULTS_MAX, initial=12, required=False
    )
    photo = forms.CharField(required=False, max_length=PHOTO_KEPT_MAX_CHARS, widget=forms.HiddenInput)
    category = forms.ModelChoiceField(queryset=Category.objects.all(), required=False, widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        upload, kept = cleaned.get("image"), cleaned.get("photo")
        if "image" in self.errors or "photo" in self.errors:
            return cleaned
        try:
            if upload:
                cleaned["picture"] = load_image(upload)
            elif kept:
                try:
                    data = base64.b64decode(kept, validate=True)
                except (binascii.Error, ValueError):
                    raise ImageError("The kept photo is damaged; please upload it again.") from None
                cleaned["picture"] = load_image(data)
            else:
                self.add_error("image", forms.ValidationError("Choose a photo to search with.", code="required"))
        except ImageError as exc:
            self.add_error("image", forms.ValidationError(str(exc), code="invalid_image"))
        return cleaned


class CheckedImageField(forms.FileField):
    """An image upload decoded by shop.images, so the admin gives the same precise reason as the
    API and the search form (forms.ImageField's own check says only "Upload a valid image")."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("widget", forms.ClearableFileInput(attrs={"accept": "image/*"}))
        super().__init__(allow_empty_file=True, **kwargs)  # load_image says "The file is empty."

    def to_python(self, data):
        upload = super().to_python(data)
        if upload is not None:
            try:
                load_image(upload)
            except ImageError as exc:
                raise forms.ValidationError(str(exc), code="invalid_image") from None
        return upload


class ValueListInput(forms.TextInput):
    """A text box offering the values already in use (a <datalist>); another value can still be typed."""

    def __init__(self, values: Callable[[], list[str]], attrs: dict | None = None) -> None:
        super().__init__(attrs)
        self.values = values

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        list_id = f"{(attrs or {}).get('id') or f'id_{name}'}-values"
        html = super().render(name, value, {**(attrs or {}), "list": list_id, "autocomplete": "off"}, renderer)
        options = format_html_join("", '<option value="{}">', ((v,) for v in self.values()))
        return html + format_html('<datalist id="{}">{}</datalist>', list_id, options)


class ProductAdminForm(forms.ModelForm):
    """Decodes the uploaded image fully, so a broken file is refused with the reason.

    Gender, colour, season and usage are listing facets: a value not in use yet is refused
    unless "new_values" is ticked, so a typo does not become a new facet value by accident;
    a value differing only in case takes the spelling in use.
    """

    image = CheckedImageField(label="Image", required=False, help_text=f"{ACCEPTED_LABEL}, up to 10 MB.")
    new_values = forms.BooleanField(
        label="Allow new values",
        required=False,
        help_text="Tick to add a gender, colour, season or usage that no product has yet.",
    )

    class Meta:
        model = Product
        fields = [
            "sku",
            "name",
            "category",
            "image",
            "price",
            "discounted_price",
            "stock",
            "brand",
            "description",
            "gender",
            "base_colour",
            "season",
            "year",
            "usage",
            "is_active",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ATTRIBUTE_FIELDS:
            field = self.fields[name]
            field.widget = ValueListInput(partial(product_attribute_values, field=name), field.widget.attrs)
        self.fields["stock"].required = False  # left empty: none in stock yet

    def clean_stock(self) -> int:
        stock = self.cleaned_data.get("stock")
        return 0 if stock is None else stock

    def clean(self):
        cleaned = super().clean()
        for name in ATTRIBUTE_FIELDS:
            value = (cleaned.get(name) or "").strip()
            if not value or (self.instance.pk and value == getattr(self.instance, name)):
                continue
            in_use = product_attribute_values(field=name)
            spelling = {v.casefold(): v for v in in_use}.get(value.casefold())
            if spelling is not None:
                cleaned[name] = spelling
            elif not cleaned.get("new_values"):
                label = self.fields[name].label.lower()
                shown = ", ".join(in_use[:12]) or "none yet"
                self.add_error(
                    name,
                    f"“{value}” is not a {label} in use ({shown}). "
                    "Pick one of those, or tick “Allow new values” to add it.",
                )
        return cleaned
