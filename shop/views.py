"""Storefront pages: thin views that read through selectors."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from recommendations.selectors import image_similar_list, product_embedding_status, product_similar_list
from shop.forms import PhotoSearchForm
from shop.selectors import product_get, product_list


def home(request: HttpRequest) -> HttpResponse:
    """shop/home.html: the newest products, paginated."""
    page = Paginator(product_list(), 24).get_page(request.GET.get("page"))
    return render(request, "shop/home.html", {"page": page})


def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    """shop/product_detail.html: the product and its visually similar items."""
    product = product_get(product_id=product_id)
    return render(
        request,
        "shop/product_detail.html",
        {
            "product": product,
            "similar": product_similar_list(product=product),
            "embedding": product_embedding_status(product=product),
        },
    )


def photo_search(request: HttpRequest) -> HttpResponse:
    """shop/photo_search.html: upload a photo (POST multipart `image`, optional `k`), see similar products."""
    results = None
    if request.method == "POST":
        form = PhotoSearchForm(request.POST, request.FILES)
        if form.is_valid():
            results = image_similar_list(image=form.cleaned_data["picture"], k=form.cleaned_data["k"] or 12)
        status = 200 if form.is_valid() else 400
    else:
        form, status = PhotoSearchForm(), 200
    return render(request, "shop/photo_search.html", {"form": form, "results": results}, status=status)
