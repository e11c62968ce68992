from django import forms
from django.conf import settings

from shop.images import ImageError, load_image
from shop.models import Product


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
