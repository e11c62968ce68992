"""The shopper-facing catalogue: browse, facets, sort, pages, text search and product pages."""

import re
from decimal import Decimal
from html import unescape
from itertools import count

import pytest
from django.template import loader
from django.test import RequestFactory
from django.views.defaults import server_error

from shop.models import Category, Product
from shop.selectors import ProductFilters, category_tree, product_facets, product_search

pytestmark = pytest.mark.django_db

_sku = count(1)


def element(html: str, testid: str) -> str:
    """The outer HTML of the first element with this data-testid ("" when absent)."""
    start = html.find(f'data-testid="{testid}"')
    if start < 0:
        return ""
    start = html.rfind("<", 0, start)
    tag = re.match(r"<(\w+)", html[start:]).group(1)
    depth = 0
    for match in re.finditer(rf"<(/?){tag}\b[^>]*>", html[start:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            return html[start : start + match.end()]
    return html[start:]


def elements(html: str, testid: str) -> list[str]:
    found, rest = [], html
    while (block := element(rest, testid)) != "":
        found.append(block)
        rest = rest[rest.find(block) + len(block) :]
    return found


def product_ids(html: str) -> list[int]:
    """Product ids of the cards in the listing, in page order."""
    listing = element(html, "product-list")
    return [int(pk) for pk in re.findall(r'<li class="card"[^>]*>\s*<a href="/products/(\d+)/"', listing)]


def facet_counts(html: str, key: str) -> dict[str, int]:
    block = element(html, f"facet-{key}")
    pairs = re.findall(r'class="facet-label">([^<]+)</span>.*?class="count">(\d+)<', block, re.S)
    return {label: int(n) for label, n in pairs}


def category_path(master: str, sub: str, article: str) -> Category:
    root, _ = Category.objects.get_or_create(name=master, parent=None, level=Category.Level.MASTER)
    middle, _ = Category.objects.get_or_create(name=sub, parent=root, level=Category.Level.SUB)
    leaf, _ = Category.objects.get_or_create(name=article, parent=middle, level=Category.Level.ARTICLE)
    return leaf


def make(name: str, category: Category | None = None, **fields) -> Product:
    return Product.objects.create(sku=f"T{next(_sku):05d}", name=name, category=category, **fields)


@pytest.fixture
def tree():
    return {
        "tshirts": category_path("Apparel", "Topwear", "Tshirts"),
        "shirts": category_path("Apparel", "Topwear", "Shirts"),
        "jeans": category_path("Apparel", "Bottomwear", "Jeans"),
        "casual": category_path("Footwear", "Shoes", "Casual Shoes"),
        "watches": category_path("Accessories", "Watches", "Watches"),
    }


@pytest.fixture
def shop(tree):
    """A small catalogue shaped like the real one (names, types, colours, prices)."""
    rows = [
        # key, name, type, gender, colour, season, usage, price, discounted price
        ("tee_blue", "Puma Men Blue T-shirt", "tshirts", "Men", "Blue", "Summer", "Casual", "799", None),
        ("tee_red", "Nike Men Red Tshirt", "tshirts", "Men", "Red", "Summer", "Sports", "1299", "649"),
        ("tee_women", "Wildcraft Women Solid Blue Tshirt", "tshirts", "Women", "Blue", "Fall", "Casual", "999", None),
        ("shirt", "John Miller Men Blue Formal Shirt", "shirts", "Men", "Blue", "Fall", "Formal", "1599", None),
        ("jeans", "Levis Men Blue Jeans", "jeans", "Men", "Blue", "Winter", "Casual", "2499", None),
        ("sneakers", "Skechers Men Black Sneakers", "casual", "Men", "Black", "Winter", "Casual", "3999", None),
        ("watch", "Titan Women Silver Watch", "watches", "Women", "Silver", "Winter", "Casual", None, None),
    ]
    p = {}
    for key, name, kind, gender, colour, season, usage, price, discounted in rows:
        p[key] = make(
            name,
            tree[kind],
            gender=gender,
            base_colour=colour,
            season=season,
            usage=usage,
            price=Decimal(price) if price else None,
            discounted_price=Decimal(discounted) if discounted else None,
        )
    p["hidden"] = make(
        "Puma Men Blue T-shirt Hidden",
        tree["tshirts"],
        gender="Men",
        base_colour="Blue",
        season="Summer",
        usage="Casual",
        price=Decimal("10"),
        is_active=False,
    )
    return p


# Facets


def test_facets_are_disjunctive_with_counts(shop):
    """A facet's counts ignore its own selection but apply every other one."""
    facets = product_facets(filters=ProductFilters(colour=("Blue",)))
    colours = {v.value: (v.count, v.selected) for v in facets["colour"]}
    assert colours == {"Blue": (4, True), "Red": (1, False), "Black": (1, False), "Silver": (1, False)}
    genders = {v.value: v.count for v in facets["gender"]}
    assert genders == {"Men": 3, "Women": 1}  # blue products only; inactive one not counted
    types = {v.value: v.count for v in facets["article_type"]}
    assert types == {"Tshirts": 2, "Shirts": 1, "Jeans": 1}


def test_facets_narrow_the_page_and_show_counts(client, shop):
    html = client.get("/products/?colour=Blue&gender=Men").content.decode()
    assert set(product_ids(html)) == {shop["tee_blue"].pk, shop["shirt"].pk, shop["jeans"].pk}
    assert "3 products" in element(html, "result-count")
    assert facet_counts(html, "colour") == {"Blue": 3, "Red": 1, "Black": 1}
    assert facet_counts(html, "gender") == {"Men": 3, "Women": 1}
    assert facet_counts(html, "usage") == {"Casual": 2, "Formal": 1}
    # An option's link adds its value and keeps the others.
    red = re.search(r'href="([^"]+)"[^>]*>\s*<span class="box"[^>]*></span><span class="facet-label">Red<', html)
    assert red and "colour=Blue" in red.group(1) and "colour=Red" in red.group(1) and "gender=Men" in red.group(1)
    red_page = client.get("/products/" + red.group(1).replace("&amp;", "&")).content.decode()
    assert set(product_ids(red_page)) == {shop["tee_blue"].pk, shop["tee_red"].pk, shop["shirt"].pk, shop["jeans"].pk}


def test_price_facet_uses_effective_price(client, shop):
    """The discounted price counts: a ₹1299 tee at ₹649 falls in ₹500–₹1,000."""
    prices = {v.label: v.count for v in product_facets(filters=ProductFilters())["price"]}
    assert prices == {
        "Up to ₹500": 0,
        "₹500 – ₹1,000": 3,
        "₹1,000 – ₹2,000": 1,
        "₹2,000 – ₹5,000": 2,
        "₹5,000 and above": 0,
    }
    html = client.get("/products/?price_min=500&price_max=1000").content.decode()
    assert set(product_ids(html)) == {shop["tee_blue"].pk, shop["tee_red"].pk, shop["tee_women"].pk}
    assert "Price: ₹500 – ₹1,000" in element(html, "active-filters")


def test_active_filters_are_removable_and_clearable(client, shop):
    html = client.get("/products/?colour=Blue&colour=Red&usage=Casual&sort=name").content.decode()
    chips = elements(html, "remove-filter")
    assert [re.sub(r"<[^>]+>|\s+", " ", c).split("×")[0].strip() for c in chips] == [
        "Colour: Blue",
        "Colour: Red",
        "Usage: Casual",
    ]
    remove_blue = re.search(r'href="([^"]+)"', chips[0]).group(1).replace("&amp;", "&")
    assert "colour=Blue" not in remove_blue and "colour=Red" in remove_blue and "sort=name" in remove_blue
    page = client.get("/products/" + remove_blue).content.decode()
    assert product_ids(page) == [] and 'data-testid="no-results"' in page  # the red tee is for sports
    remove_usage = re.search(r'href="([^"]+)"', elements(page, "remove-filter")[1]).group(1).replace("&amp;", "&")
    assert set(product_ids(client.get("/products/" + remove_usage).content.decode())) == {shop["tee_red"].pk}
    assert '<a class="clear-all" href="?">' in element(html, "active-filters")


# Sorting and pages


def test_sort_orders(shop):
    def names(sort: str) -> list[str]:
        return [p.name for p in product_search(filters=ProductFilters(sort=sort))]

    cheapest = ["Nike Men Red Tshirt", "Puma Men Blue T-shirt", "Wildcraft Women Solid Blue Tshirt"]
    assert names("price_asc")[:3] == cheapest
    assert names("price_asc")[-1] == "Titan Women Silver Watch"  # no price: last either way
    assert names("price_desc")[0] == "Skechers Men Black Sneakers"
    assert names("price_desc")[-1] == "Titan Women Silver Watch"
    assert names("name") == sorted(names("name"))
    assert names("newest")[0] == "Titan Women Silver Watch"  # created last (the inactive one is hidden)
    assert names("") == names("newest")


def test_sort_select_in_page_keeps_filters(client, shop):
    html = client.get("/products/?colour=Blue&sort=price_desc").content.decode()
    sort = element(html, "sort")
    assert '<option value="price_desc" selected>' in sort
    assert "relevance" not in sort  # only offered with a text query
    at = html.find('data-testid="sort"')
    form = html[html.rfind("<form", 0, at) : html.find("</form>", at)]
    assert 'name="colour" value="Blue"' in form and 'type="submit"' in form
    assert product_ids(html)[0] == shop["jeans"].pk


def test_pagination_keeps_filters(client, tree):
    for i in range(30):
        make(f"Blue tee {i:02d}", tree["tshirts"], base_colour="Blue", price=Decimal(100 + i))
    for i in range(5):
        make(f"Red tee {i}", tree["tshirts"], base_colour="Red")
    html = client.get("/products/?colour=Blue&sort=price_asc").content.decode()
    pager = element(html, "pagination")
    assert "Page 1 of 2" in pager
    next_url = re.search(r'href="([^"]+)" rel="next"', pager).group(1).replace("&amp;", "&")
    assert "colour=Blue" in next_url and "sort=price_asc" in next_url and "page=2" in next_url
    second = client.get("/products/" + next_url).content.decode()
    names = re.findall(r'class="card-name">([^<]+)<', element(second, "product-list"))
    assert names == [f"Blue tee {i:02d}" for i in range(24, 30)]


@pytest.mark.parametrize(
    "query, message",
    [
        ("price_min=abc", "Min price (₹): Enter a number."),
        ("price_min=-5", "Min price (₹): Ensure this value is greater than or equal to 0."),
        ("price_min=900&price_max=100", "must not be below the minimum price"),
        ("sort=cheapest", "Sort by: Select a valid choice."),
        ("colour=" + "x" * 150, "at most 100 characters"),
        ("price_max=1e400", "Max price (₹)"),
    ],
)
def test_invalid_parameters_give_a_message_not_an_error(client, shop, query, message):
    response = client.get(f"/products/?{query}&gender=Men")
    assert response.status_code == 400
    html = response.content.decode()
    assert message in element(html, "form-error")
    # The valid part still applies.
    assert product_ids(html) and all(Product.objects.get(pk=pk).gender == "Men" for pk in product_ids(html))


@pytest.mark.parametrize("where", ["/products/", "/search/", "CATEGORY"])
@pytest.mark.parametrize("key", ["gender", "article_type", "colour", "season", "usage", "q"])
def test_a_nul_byte_in_a_parameter_is_a_400_with_a_message(client, shop, tree, where, key):
    """PostgreSQL text cannot hold NUL: the parameter is refused with a message, not a 500."""
    url = f"/categories/{tree['tshirts'].parent.parent_id}/" if where == "CATEGORY" else where
    response = client.get(url, {key: "Red\x00", "gender" if key != "gender" else "usage": "Men"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Null characters are not allowed." in element(html, "form-error")
    assert "\x00" not in html


@pytest.mark.parametrize("url", ["/products/", "/search/"])
def test_parameters_are_escaped_wherever_the_page_shows_them(client, shop, url):
    """Values from the query string come back in chips, facets, links and errors, always escaped."""
    script = "<script>alert(1)</script>"
    response = client.get(url, {"q": script, "colour": script, "price_min": script})
    html = response.content.decode()
    assert response.status_code == 400 and script not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize("page", ["abc", "0", "999", "-1"])
def test_odd_page_numbers_show_a_page(client, shop, page):
    response = client.get(f"/products/?page={page}")
    assert response.status_code == 200 and product_ids(response.content.decode())


# Categories


def test_category_page_includes_descendants(client, shop, tree):
    apparel = tree["tshirts"].parent.parent
    html = client.get(f"/categories/{apparel.pk}/").content.decode()
    expected = {shop[k].pk for k in ("tee_blue", "tee_red", "tee_women", "shirt", "jeans")}
    assert set(product_ids(html)) == expected
    topwear = client.get(f"/categories/{tree['tshirts'].parent_id}/?gender=Men").content.decode()
    assert set(product_ids(topwear)) == {shop["tee_blue"].pk, shop["tee_red"].pk, shop["shirt"].pk}
    crumbs = element(topwear, "breadcrumbs")
    assert f'href="/categories/{apparel.pk}/"' in crumbs and 'aria-current="page">Topwear' in crumbs
    assert client.get("/categories/999999/").status_code == 404


def test_category_tree_counts_active_products(shop):
    tree = {node.name: node for node in category_tree()}
    assert tree["Apparel"].product_count == 5
    assert {sub.name: sub.product_count for sub in tree["Apparel"].children} == {"Bottomwear": 1, "Topwear": 4}
    assert [leaf.name for leaf in tree["Apparel"].children[1].children] == ["Shirts", "Tshirts"]


def test_home_has_categories_new_arrivals_and_photo_search(client, shop):
    html = client.get("/").content.decode()
    tree = element(html, "category-tree")
    assert "Apparel" in tree and "Footwear" in tree and "(5)" in tree
    arrivals = element(html, "new-arrivals")
    assert f'href="/products/{shop["watch"].pk}/"' in arrivals
    assert f'href="/products/{shop["hidden"].pk}/"' not in arrivals
    assert 'data-testid="photo-search-link"' in html and html.count('href="/search/photo/"') >= 2
    form = element(html, "search-form")
    assert 'action="/search/"' in form and 'name="q"' in form
    assert '<label class="visually-hidden" for="site-search">' in form
    assert 'class="skip-link" href="#main"' in html


# Text search


@pytest.mark.parametrize(
    "query, expected",
    [
        ("tshirt", {"tee_blue", "tee_red", "tee_women"}),  # article type "Tshirts" covers "T-shirt" names
        ("tshrt", {"tee_blue", "tee_red", "tee_women"}),  # typo: trigram on the article type
        ("sneakrs", {"sneakers"}),  # typo: trigram on the name
        ("blue jeans", {"jeans"}),
        ("casual shoes", {"sneakers"}),
        ("skechrs", {"sneakers"}),  # typo in the brand
        ("watches women", {"watch"}),
    ],
)
def test_text_search_finds_products_despite_typos(client, shop, query, expected):
    html = client.get("/search/", {"q": query}).content.decode()
    assert set(product_ids(html)) == {shop[k].pk for k in expected}


def test_search_ranks_name_matches_first(shop, tree):
    """A product named after the query outranks one that matches only through its category."""
    strap = make("Fastrack Black Strap", tree["watches"], gender="Men")  # newest, matches via "Watches"
    results = list(product_search(filters=ProductFilters(q="watch")))
    assert results[0] == shop["watch"] and results[1] == strap


def test_search_results_have_facets_and_keep_the_query(client, shop):
    html = client.get("/search/?q=tshirt&gender=Men").content.decode()
    assert set(product_ids(html)) == {shop["tee_blue"].pk, shop["tee_red"].pk}
    assert facet_counts(html, "gender") == {"Men": 2, "Women": 1}
    assert 'value="tshirt"' in element(html, "search-form")
    women = re.search(r'href="([^"]+)"[^>]*>\s*<span class="box"[^>]*></span><span class="facet-label">Women<', html)
    assert "q=tshirt" in women.group(1)
    assert '<option value="relevance" selected>' in element(html, "sort")


def test_empty_search_says_so_and_suggests(client, shop):
    html = client.get("/search/?q=zqxjvk").content.decode()
    assert product_ids(html) == []
    empty = element(html, "no-results")
    assert "Nothing matches “zqxjvk”" in empty and "/search/photo/" in empty and "/categories/" in empty


def test_search_vector_follows_renames_and_bulk_writes(tree):
    """The trigger keeps the search document current on every write path."""
    Product.objects.bulk_create([Product(sku="BULK1", name="Roadster Men Grey Hoodie", category=tree["tshirts"])])
    assert [p.sku for p in product_search(filters=ProductFilters(q="hoodie"))] == ["BULK1"]
    tree["tshirts"].name = "Polos"
    tree["tshirts"].save()
    assert [p.sku for p in product_search(filters=ProductFilters(q="polos"))] == ["BULK1"]
    Product.objects.filter(sku="BULK1").update(name="Roadster Men Grey Jumper")
    assert [p.sku for p in product_search(filters=ProductFilters(q="jumper"))] == ["BULK1"]
    assert list(product_search(filters=ProductFilters(q="hoodie"))) == []


# Product page


def test_product_page_has_breadcrumbs_price_more_in_type_and_similar(client, shop, tree):
    html = client.get(f"/products/{shop['tee_red'].pk}/").content.decode()
    assert element(html, "product-name").endswith(">Nike Men Red Tshirt</h1>")
    price = element(html, "product-price")
    assert "<del>" in price and "1,299" in price and "649" in price
    crumbs = element(html, "breadcrumbs")
    for node in tree["tshirts"].path():
        assert f'href="/categories/{node.pk}/"' in crumbs
    more = element(html, "more-in-type")
    assert "More in Men's Tshirts" in unescape(more)
    linked = {int(pk) for pk in re.findall(r'href="/products/(\d+)/" data-ref="more_in_type"', more)}
    assert linked == {shop["tee_blue"].pk}  # not itself, not the inactive one, not the women's
    assert 'data-testid="similar-items"' in html


def test_product_without_price_is_shown_with_a_note(client, shop):
    html = client.get(f"/products/{shop['watch'].pk}/").content.decode()
    assert "Price not available" in element(html, "product-price")
    listing = client.get("/products/?gender=Women").content.decode()
    assert shop["watch"].pk in product_ids(listing)


def test_inactive_products_are_hidden_everywhere(client, shop):
    hidden = shop["hidden"]
    assert client.get(f"/products/{hidden.pk}/").status_code == 404
    for url in ("/products/", "/search/?q=puma", f"/categories/{hidden.category_id}/", "/"):
        assert f'href="/products/{hidden.pk}/"' not in client.get(url).content.decode(), url


# Error pages and efficiency


def test_404_page_is_friendly(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "We can’t find that page" in html and 'action="/search/"' in html and 'href="/products/"' in html


def test_500_page_needs_no_context(client):
    assert "Something went wrong" in loader.get_template("500.html").render()
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500 and b"Something went wrong" in response.content


@pytest.mark.parametrize("url", ["/products/?colour=Blue&sort=price_asc", "/search/?q=tshrt&gender=Men", "CATEGORY"])
def test_listing_query_count_does_not_grow_with_results(client, tree, django_assert_max_num_queries, url):
    for i in range(60):
        make(f"Puma Men Blue T-shirt {i}", tree["tshirts"], gender="Men", base_colour="Blue", price=Decimal(500 + i))
    url = f"/categories/{tree['tshirts'].parent.parent_id}/?gender=Men" if url == "CATEGORY" else url
    # 10-12 here: count, page, six facet counts, the header's category menu (2) and, with a text
    # query, its category lookups (2); the rest is room for the header's cart and account links.
    with django_assert_max_num_queries(16):
        response = client.get(url)
    assert response.status_code == 200 and len(product_ids(response.content.decode())) == 24


def test_no_template_syntax_leaks_into_pages(client, django_user_model):
    """Django comments are one line only: a `{#` spread over lines prints as text on every page."""
    leaf = category_path("Apparel", "Topwear", "Tshirts")
    product = Product.objects.create(sku="LEAK-1", name="Plain Tshirt", category=leaf, price=Decimal("499"), stock=3)
    pages = ["/", "/products/", f"/categories/{leaf.pk}/", "/search/?q=tshirt", product.get_absolute_url()]
    pages += ["/search/photo/", "/cart/", "/checkout/", "/accounts/login/", "/accounts/signup/", "/no-such-page/"]
    for url in pages:
        html = client.get(url).content.decode()
        assert not re.search(r"\{[#%]|[#%]\}|\{\{|\}\}", html), f"template syntax shown on {url}"
    client.force_login(django_user_model.objects.create_user("leak", password="x-pass-1234"))
    for url in ["/accounts/orders/", "/cart/"]:
        html = client.get(url).content.decode()
        assert not re.search(r"\{[#%]|[#%]\}|\{\{|\}\}", html), f"template syntax shown on {url}"


def test_category_menu_is_cached_between_pages(client, settings):
    """The header menu costs its two catalogue-wide queries once per cache period, not per page."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    leaf = category_path("Footwear", "Shoes", "Casual Shoes")
    Product.objects.create(sku="MENU-1", name="Canvas Shoe", category=leaf, price=Decimal("999"))
    settings.CATEGORY_MENU_CACHE_SECONDS = 60
    cache.clear()
    with CaptureQueriesContext(connection) as first:
        html = client.get("/products/").content.decode()
    menu = re.search(r'<details class="menu">.*?</details>', html, re.S).group(0)
    assert ">Footwear</a>" in menu
    with CaptureQueriesContext(connection) as second:
        again = client.get("/products/").content.decode()
    assert len(first) - len(second) == 2
    assert menu in again
    cache.clear()
