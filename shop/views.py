"""Storefront pages: thin views that read through selectors."""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import Paginator
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.http import urlencode

from config.api import PhotoSearchThrottle
from events.models import Interaction
from events.selectors import recently_viewed_list
from events.services import (
    PHOTO_SEARCH_REF,
    RECOMMENDATION_LISTS,
    SESSION_EVENTS_KEY,
    interaction_record_request,
    list_impressions_record,
)
from recommendations.selectors import (
    image_search,
    product_also_bought_list,
    product_embedding_status,
    product_similar_list,
    shopper_recommended_list,
)
from shop.cart import cart_get
from shop.filters import ProductFilterSet
from shop.forms import PHOTO_KEPT_SIDE, PhotoSearchForm
from shop.images import image_jpeg_base64
from shop.models import Category
from shop.prices import format_price
from shop.selectors import (
    FACET_FIELDS,
    UNISEX,
    ProductFilters,
    category_get,
    category_tree,
    product_facets,
    product_get,
    product_list,
    product_more_in_type_list,
)

LISTING_PAGE_SIZE = 24
NEW_ARRIVALS = 12
FACET_TITLES = {
    "gender": "Gender",
    "article_type": "Type",
    "colour": "Colour",
    "season": "Season",
    "usage": "Usage",
    "price": "Price",
}
# Parameters that define the result set; the page number and sort are not filters.
FILTER_KEYS = ("q", *FACET_FIELDS, "price_min", "price_max")


def _shopper_session_key(request: HttpRequest) -> str:
    # Anonymous events are logged under the session's first key (events.services.session_shopper_key).
    return request.session.get(SESSION_EVENTS_KEY) or request.session.session_key or ""


def home(request: HttpRequest) -> HttpResponse:
    """shop/home.html: the category tree, new arrivals, "Recommended for you" (`recommended`, a
    RecommendedList), "Recently viewed" (`recently_viewed`, products) and the photo-search entry."""
    in_cart = cart_get(user=request.user, session=request.session).quantities()
    session_key = _shopper_session_key(request)
    recommended = shopper_recommended_list(
        user=request.user, session_key=session_key, k=settings.RECOMMENDED_FOR_YOU_COUNT, exclude_ids=in_cart
    )
    recently_viewed = recently_viewed_list(
        user=request.user, session_key=session_key, limit=settings.RECENTLY_VIEWED_COUNT
    )
    list_impressions_record(
        request=request,
        shown={"recommended_for_you": len(recommended.items), "recently_viewed": len(recently_viewed)},
    )
    return render(
        request,
        "shop/home.html",
        {
            "categories": category_tree(),
            "new_arrivals": list(product_list()[:NEW_ARRIVALS]),
            "recommended": recommended,
            "recently_viewed": recently_viewed,
        },
    )


# Genders as a heading says them: "Men's Tshirts", "Girls' Dresses".
GENDER_POSSESSIVE = {"Men": "Men's", "Women": "Women's", "Boys": "Boys'", "Girls": "Girls'"}


def listing_title(filters: ProductFilters, *, subject: str = "") -> str:
    """A list's heading from what narrows it: "Men's Tshirts", "Women's Blue Tops", "All products".

    subject is the category's name on a category page; article types chosen in the facets
    replace it.
    """
    subject = " and ".join(filters.article_type) or subject
    words = [
        " and ".join(GENDER_POSSESSIVE.get(g, g) for g in filters.gender),
        " and ".join(filters.season),
        " and ".join(filters.usage),
        " and ".join(filters.colour),
    ]
    words = [w for w in words if w]
    if not words:
        return subject or "All products"
    return " ".join([*words, subject or "products"])


def product_list_view(request: HttpRequest) -> HttpResponse:
    """shop/product_list.html: the whole catalogue with facets, sort and pages."""
    return _listing(request, title="")


def category(request: HttpRequest, category_id: int) -> HttpResponse:
    """shop/product_list.html: one category (any level, descendants included) with facets."""
    node = category_get(category_id=category_id)
    return _listing(request, title=node.name, category=node)


def search(request: HttpRequest) -> HttpResponse:
    """shop/product_list.html: text search results (`q`), ranked, with the same facets."""
    return _listing(request, title="Search", searching=True)


def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    """shop/product_detail.html: the product, its visually similar items, what its buyers also
    bought (`also_bought`) and more of its type. `?ref=<list>` records a click and redirects."""
    product = product_get(product_id=product_id)
    if "ref" in request.GET:
        return _click_redirect(request, product.pk)
    interaction_record_request(
        request=request, product_id=product.pk, kind=Interaction.Kind.VIEW, surface=Interaction.Surface.PRODUCT_PAGE
    )
    similar = product_similar_list(product=product)
    more_filters = ProductFilters(
        gender=(product.gender,) if product.gender and product.gender != UNISEX else (),
    )
    in_cart = cart_get(user=request.user, session=request.session).quantities()
    more_in_type = (
        list(product_more_in_type_list(product=product, exclude_ids=[item.product.pk for item in similar]))
        if product.category
        else []
    )
    also_bought = product_also_bought_list(product=product, exclude_ids=in_cart)
    list_impressions_record(
        request=request,
        shown={"similar_items": len(similar), "also_bought": len(also_bought), "more_in_type": len(more_in_type)},
    )
    return render(
        request,
        "shop/product_detail.html",
        {
            "product": product,
            "breadcrumbs": product.category.path() if product.category else [],
            "similar": similar,
            # Only needed to say why the list is empty (being prepared, or failed).
            "embedding": None if similar else product_embedding_status(product=product),
            "more_in_type": more_in_type,
            "more_title": listing_title(more_filters, subject=product.category.name if product.category else ""),
            "more_query": f"?{urlencode({'gender': product.gender})}" if more_filters.gender else "",
            "also_bought": also_bought,
            "canonical_url": request.build_absolute_uri(product.get_absolute_url()),
        },
    )


def _click_redirect(request: HttpRequest, product_id: int) -> HttpResponse:
    """Record a click from a list (`ref`), then redirect to the URL without it: the product page
    stays one cacheable, shareable URL, and a shared link with `ref` is not counted twice by caches."""
    ref = request.GET.get("ref", "")
    if ref == PHOTO_SEARCH_REF:
        kind, source_list = Interaction.Kind.PHOTO_SEARCH_CLICK, ""
    elif ref in RECOMMENDATION_LISTS:
        kind, source_list = Interaction.Kind.RECOMMENDATION_CLICK, ref
    else:
        kind = None  # an unknown list: just drop it
    if kind is not None:
        interaction_record_request(
            request=request,
            product_id=product_id,
            kind=kind,
            surface=Interaction.Surface.PRODUCT_PAGE,
            source_list=source_list,
        )
    params = request.GET.copy()
    params.pop("ref", None)
    response = HttpResponseRedirect(f"{request.path}?{params.urlencode()}" if params else request.path)
    add_never_cache_headers(response)  # every click must reach the shop to be counted
    return response


def photo_search(request: HttpRequest) -> HttpResponse:
    """shop/photo_search.html: upload a photo (POST multipart `image`, optional `k`), see similar products.

    After a search the context has `results`, `kinds` (what the photo most likely shows, offered as
    choices that re-send `kept_photo`, a small base64 JPEG also shown beside the results, with a
    `category`), `chosen_kind` and `weak_match` (the best score is below PHOTO_SEARCH_WEAK_SCORE).

    `throttled` holds a message (status 429) once the client used up PHOTO_SEARCH_THROTTLE_RATE,
    counted together with the API's search by photo.
    """
    found = kept = None
    if request.method == "POST":
        throttle = PhotoSearchThrottle()
        if not throttle.allow_request(request, None):
            wait = throttle.retry_after()
            message = f"You have searched by photo many times in a short while. Please try again in {wait} seconds."
            response = render(
                request, "shop/photo_search.html", {"form": PhotoSearchForm(), "throttled": message}, status=429
            )
            response["Retry-After"] = str(wait)
            return response
        form = PhotoSearchForm(request.POST, request.FILES)
        if form.is_valid():
            picture = form.cleaned_data["picture"]
            found = image_search(image=picture, k=form.cleaned_data["k"] or 12, category=form.cleaned_data["category"])
            kept = image_jpeg_base64(picture, max_side=PHOTO_KEPT_SIDE)
            list_impressions_record(request=request, shown={PHOTO_SEARCH_REF: len(found.results)})
        status = 200 if form.is_valid() else 400
    else:
        form, status = PhotoSearchForm(), 200
    context = {
        "form": form,
        "results": found.results if found else None,
        "kinds": found.kinds if found else [],
        "weak_match": found.weak_match if found else False,
        "kept_photo": kept,
        "chosen_kind": form.cleaned_data.get("category") if found else None,
        "k": (form.cleaned_data.get("k") or 12) if found else 12,
    }
    return render(request, "shop/photo_search.html", context, status=status)


def _listing(
    request: HttpRequest, *, title: str, category: Category | None = None, searching: bool = False
) -> HttpResponse:
    # The page's path names the category (or none): ?category= is an API parameter only.
    filterset = ProductFilterSet(request.GET, category_id=category.pk if category else None)
    valid = filterset.is_valid()
    form = filterset.form
    filters = filterset.product_filters()
    # Bad parameters are ignored and reported; the rest of the listing still works.
    errors = [f"{form.fields[name].label}: {error}" for name, errs in form.errors.items() for error in errs]
    page = Paginator(filterset.qs, LISTING_PAGE_SIZE).get_page(request.GET.get("page"))
    params = _clean_params(request.GET, form)
    if searching:
        title = f"Results for “{filters.q}”" if filters.q else title
    else:
        title = listing_title(filters, subject=title)
    context = {
        "title": title,
        "category": category,
        "breadcrumbs": category.path() if category else [],
        "searching": searching,
        "form": form,
        "errors": errors,
        "filters": filters,
        "page": page,
        "facets": _facet_groups(filters, params),
        "active_filters": _active_filters(filters, params, searching=searching),
        "clear_url": _url(QueryDict(mutable=True) if not (searching and filters.q) else _only(params, "q")),
        "sort_value": filters.sort,
        "sort_hidden": [(k, v) for k in FILTER_KEYS for v in params.getlist(k)],
        "page_urls": _page_urls(page, params),
        "suggestions": category_tree()[:6] if not page.paginator.count else [],
    }
    return render(request, "shop/product_list.html", context, status=200 if valid else 400)


def _clean_params(query: QueryDict, form: Form) -> QueryDict:
    """The query string without page and without the parameters that failed validation."""
    params = QueryDict(mutable=True)
    for key in (*FILTER_KEYS, "sort"):
        if key in form.errors:
            continue
        for value in query.getlist(key):
            if value.strip():
                params.appendlist(key, value)
    return params


def _only(params: QueryDict, key: str) -> QueryDict:
    kept = QueryDict(mutable=True)
    kept.setlist(key, params.getlist(key))
    return kept


def _url(params: QueryDict) -> str:
    return f"?{params.urlencode()}" if params else "?"


def _facet_groups(filters: ProductFilters, params: QueryDict) -> list[dict]:
    groups = []
    for key, values in product_facets(filters=filters).items():
        options = []
        for value in values:
            changed = params.copy()
            if key == "price":
                for bound in ("price_min", "price_max"):
                    changed.pop(bound, None)
                if not value.selected:
                    if value.price_min is not None:
                        changed["price_min"] = str(value.price_min)
                    if value.price_max is not None:
                        changed["price_max"] = str(value.price_max)
            else:
                current = changed.getlist(key)
                changed.setlist(
                    key, [v for v in current if v != value.value] if value.selected else [*current, value.value]
                )
            options.append(
                {
                    "label": value.label,
                    "count": value.count,
                    "selected": value.selected,
                    "url": _url(changed),
                }
            )
        if any(o["count"] or o["selected"] for o in options):
            groups.append({"key": key, "title": FACET_TITLES[key], "options": options})
    return groups


def _active_filters(filters: ProductFilters, params: QueryDict, *, searching: bool) -> list[dict]:
    chips = []
    if filters.q and not searching:
        changed = params.copy()
        changed.pop("q", None)
        chips.append({"label": f"Search: {filters.q}", "url": _url(changed)})
    for key in FACET_FIELDS:
        for value in getattr(filters, key):
            changed = params.copy()
            changed.setlist(key, [v for v in params.getlist(key) if v != value])
            chips.append({"label": f"{FACET_TITLES[key]}: {value}", "url": _url(changed)})
    if filters.price_min is not None or filters.price_max is not None:
        changed = params.copy()
        changed.pop("price_min", None)
        changed.pop("price_max", None)
        low = format_price(filters.price_min) if filters.price_min is not None else format_price(0)
        high = format_price(filters.price_max) if filters.price_max is not None else "any"
        chips.append({"label": f"Price: {low} – {high}", "url": _url(changed)})
    return chips


def _page_urls(page, params: QueryDict) -> dict[str, str]:
    def at(number: int) -> str:
        changed = params.copy()
        changed["page"] = str(number)
        return _url(changed)

    return {
        "previous": at(page.previous_page_number()) if page.has_previous() else "",
        "next": at(page.next_page_number()) if page.has_next() else "",
        "first": at(1) if page.number > 2 else "",
        "last": at(page.paginator.num_pages) if page.number < page.paginator.num_pages - 1 else "",
    }
