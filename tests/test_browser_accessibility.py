"""Accessibility and layout of the storefront pages, measured in real Chromium against the live server.

The issue asks for pages that are accessible (labels on every form field, keyboard-usable menus,
sufficient contrast) and responsive (usable at 375 px and at 1440 px). The checks run in the page
itself (AUDIT below), on the computed styles the browser applied, over the drawn catalogue of the
`catalogue` fixture (conftest.py). Each test saves its final page, and each audited page, to
test-artifacts/.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from tests.browser import DESKTOP, PHONE, artifact_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# One pass over the rendered page; returns what it found wrong, grouped by check.
AUDIT = r"""
() => {
  const found = { labels: [], images: [], contrast: [], structure: [] };
  const describe = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += "#" + el.id;
    const classes = [...el.classList].slice(0, 2);
    if (classes.length) name += "." + classes.join(".");
    const owner = el.closest("[data-testid]");
    if (owner) name += ` in [data-testid=${owner.dataset.testid}]`;
    const text = (el.innerText || el.getAttribute("name") || "").trim().replace(/\s+/g, " ").slice(0, 40);
    return text ? `${name} "${text}"` : name;
  };
  const rendered = (el) => el.checkVisibility({ checkVisibilityCSS: true });

  // 1. Every form control a shopper can reach has an accessible name. Controls in a folded
  // <details> count too: they are one click away.
  const ignoredTypes = new Set(["hidden", "submit", "button", "reset", "image"]);
  const hasName = (control) => {
    if ((control.getAttribute("aria-label") || "").trim()) return true;
    const ids = (control.getAttribute("aria-labelledby") || "").split(/\s+/).filter(Boolean);
    if (ids.some((id) => (document.getElementById(id)?.textContent || "").trim())) return true;
    return [...(control.labels || [])].some((label) => label.textContent.trim());  // label[for] or wrapping
  };
  for (const control of document.querySelectorAll("input, select, textarea")) {
    if (control.tagName === "INPUT" && ignoredTypes.has(control.type)) continue;
    if (!rendered(control) && !control.closest("details:not([open])")) continue;
    if (!hasName(control)) found.labels.push(`${describe(control)} (type ${control.type}) has no accessible name`);
  }

  // 2. Images: alt on all, and no alt that repeats its link's own text (read twice otherwise);
  // listing cards reserve their box and load lazily.
  for (const img of document.images) {
    if (!img.hasAttribute("alt")) found.images.push(`${describe(img)} ${img.getAttribute("src")} has no alt attribute`);
    const link = img.closest("a");
    if (img.alt && link && link.textContent.includes(img.alt)) {
      found.images.push(`${describe(img)} ${img.getAttribute("src")}: alt repeats the link text "${img.alt}"`);
    }
  }
  const cardImages = document.querySelectorAll("[data-testid=product-card] img, .grid img");
  for (const img of cardImages) {
    const missing = ["width", "height"].filter((name) => !/^\d+$/.test(img.getAttribute(name) || ""));
    if (img.getAttribute("loading") !== "lazy") missing.push('loading="lazy"');
    if (missing.length) found.images.push(`card image ${img.getAttribute("src")} lacks ${missing.join(", ")}`);
  }

  // 3. Text contrast (WCAG 2 AA) for every rendered element that holds text of its own.
  const parse = (value) => {
    const match = value.match(/^rgba?\(([^)]*)\)$/);
    if (!match) return null;
    const [r, g, b, a = 1] = match[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const over = (top, bottom) => {
    const mix = (key) => top[key] * top.a + bottom[key] * (1 - top.a);
    return { r: mix("r"), g: mix("g"), b: mix("b"), a: 1 };
  };
  const backgroundOf = (el) => {
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const colour = parse(getComputedStyle(node).backgroundColor);
      if (colour === null) return null;
      if (colour.a > 0) layers.push(colour);
      if (colour.a >= 1) break;
    }
    return layers.reverse().reduce((below, layer) => over(layer, below), { r: 255, g: 255, b: 255, a: 1 });
  };
  const luminance = ({ r, g, b }) => {
    const channel = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  const contrast = (one, two) => {
    const [light, dark] = [luminance(one), luminance(two)].sort((x, y) => y - x);
    return (light + 0.05) / (dark + 0.05);
  };
  const skipped = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "OPTION"]);
  let textElements = 0;
  const seen = new Set();
  for (const el of document.body.querySelectorAll("*")) {
    if (skipped.has(el.tagName)) continue;
    const ownText = [...el.childNodes].some((node) => node.nodeType === Node.TEXT_NODE && node.textContent.trim());
    if (!ownText || !rendered(el)) continue;
    const box = el.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;  // visually hidden, for screen readers only
    textElements += 1;
    const style = getComputedStyle(el);
    const background = backgroundOf(el);
    let colour = parse(style.color);
    if (background === null || colour === null) {
      found.contrast.push(`${describe(el)}: cannot read colours (${style.color} on ${style.backgroundColor})`);
      continue;
    }
    if (colour.a < 1) colour = over(colour, background);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const needed = large ? 3 : 4.5;
    const ratio = contrast(colour, background);
    if (ratio < needed) {
      const rgb = (c) => `rgb(${Math.round(c.r)}, ${Math.round(c.g)}, ${Math.round(c.b)})`;
      const line = `${describe(el)}: ${ratio.toFixed(2)}:1 < ${needed} `
        + `(${rgb(colour)} on ${rgb(background)}, ${size}px)`;
      if (!seen.has(line)) found.contrast.push(line);
      seen.add(line);
    }
  }

  // Text fields' outlines (WCAG 1.4.11, non-text contrast): a field must stand out from the page by
  // 3:1, by its border or by its own fill, or a shopper cannot see where to type.
  const boxTypes = new Set(["text", "search", "email", "password", "number", "tel", "url"]);
  for (const control of document.querySelectorAll("input, select, textarea")) {
    if (control.tagName === "INPUT" && !boxTypes.has(control.type)) continue;
    if (!rendered(control)) continue;
    const style = getComputedStyle(control);
    const around = backgroundOf(control.parentElement);
    const border = parse(style.borderTopColor);
    const fill = backgroundOf(control);
    if (around === null || border === null || fill === null) continue;
    const edge = parseFloat(style.borderTopWidth) > 0 ? contrast(over(border, fill), around) : 0;
    const ratio = Math.max(edge, contrast(fill, around));
    if (ratio < 3) {
      const colours = `border ${style.borderTopColor}`;
      found.contrast.push(`${describe(control)}: field edge ${ratio.toFixed(2)}:1 < 3 (${colours})`);
    }
  }

  // 5. Landmarks and names.
  const h1s = document.querySelectorAll("h1").length;
  if (h1s !== 1) found.structure.push(`${h1s} <h1> elements, expected exactly one`);
  const mains = document.querySelectorAll("main").length;
  if (mains !== 1) found.structure.push(`${mains} <main> elements, expected exactly one`);
  if (!document.documentElement.lang.trim()) found.structure.push("<html> has no lang");
  if (!document.title.trim()) found.structure.push("empty <title>");
  const ids = [...document.querySelectorAll("[id]")].map((el) => el.id);
  const repeated = [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))];
  if (repeated.length) found.structure.push(`repeated ids (labels may name the wrong field): ${repeated.join(", ")}`);
  // Without the stylesheet every colour is the browser default and the contrast check would pass vacuously.
  const styled = [...document.styleSheets].some(
    (sheet) => (sheet.href || "").includes("site.css") && sheet.cssRules.length,
  );
  if (!styled) found.structure.push("site.css is not applied");

  return {
    found,
    textElements,
    cardImages: cardImages.length,
    scrollWidth: document.documentElement.scrollWidth,
    viewportWidth: window.innerWidth,
  };
}
"""

# The element that has keyboard focus, with what a sighted keyboard user sees of it.
FOCUSED = r"""
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0
    && !/^rgba\(.*,\s*0\)$/.test(style.outlineColor);
  const box = el.getBoundingClientRect();
  return {
    tag: el.tagName.toLowerCase(),
    text: (el.innerText || el.getAttribute("aria-label") || el.getAttribute("placeholder") || "")
      .trim().replace(/\s+/g, " "),
    href: el.getAttribute("href"),
    testid: el.dataset.testid || null,
    inHeader: !!el.closest("header"),
    inMain: !!el.closest("main"),
    inMenu: !!el.closest(".menu-list"),
    indicator: outline || style.boxShadow !== "none",
    style: `outline ${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}; box-shadow ${style.boxShadow}`,
    onScreen: box.width > 0 && box.height > 0 && box.top >= 0 && box.left >= 0
      && box.bottom <= window.innerHeight && box.right <= window.innerWidth,
  };
}
"""


def expect(target):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def audit(page, request, name: str, *, with_cards: bool = False) -> list[str]:
    """Run AUDIT on the current page; returns one line per problem (empty when the page passes)."""
    page.wait_for_load_state("load")
    result = page.evaluate(AUDIT)
    page.screenshot(path=artifact_path(f"{request.node.name}-{name}"), full_page=True)
    problems = [f"[{check}] {line}" for check, lines in result["found"].items() for line in lines]
    if result["textElements"] < 5:  # the audit must have had text to judge
        problems.append(f"[contrast] only {result['textElements']} text elements found; the page did not render")
    if with_cards and not result["cardImages"]:
        problems.append("[images] no product card images, so the card image check judged nothing")
    if result["scrollWidth"] > result["viewportWidth"]:
        sizes = f"scrollWidth {result['scrollWidth']} > {result['viewportWidth']} px"
        problems.append(f"[layout] scrolls sideways: {sizes}")
    return problems


def visit(page, path: str, status: int = 200) -> None:
    response = page.goto(path)
    assert response is not None and response.status == status, f"GET {path}: {response and response.status}"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440px", "375px"])
def test_pages_are_labelled_legible_and_fit_the_screen(page, catalogue, request):
    """Labels, alt text, contrast, one h1/main/lang/title and no sideways scroll on every storefront page."""
    tee = catalogue["Tshirts"][0]
    pages = [
        ("home", "/", 200, True),
        ("browse", "/products/?gender=Men", 200, True),  # facets, an active-filter chip, sort
        ("search", "/search/?q=shirt", 200, False),
        ("photo-search", "/search/photo/", 200, False),
        ("login", "/accounts/login/", 200, False),
        ("signup", "/accounts/signup/", 200, False),
        ("password-reset", "/accounts/password_reset/", 200, False),
        ("not-found", "/no-such-page/", 404, False),
    ]
    report: dict[str, list[str]] = {}
    for name, path, status, with_cards in pages:
        visit(page, path, status)
        report[f"{name} {path}"] = audit(page, request, name, with_cards=with_cards)

    # A product page; adding it to the cart leads to the cart (with its "Added" message) holding
    # that one item; then the checkout form.
    visit(page, f"/products/{tee.pk}/")
    report[f"product /products/{tee.pk}/"] = audit(page, request, "product", with_cards=True)
    page.get_by_test_id("add-to-cart").click()
    page.wait_for_url("**/cart/")
    expect(page.get_by_test_id("cart-line")).to_have_count(1)
    expect(page.get_by_test_id("cart-count")).to_have_text("1")
    report["cart /cart/"] = audit(page, request, "cart")
    visit(page, "/checkout/")
    expect(page.get_by_test_id("checkout-form")).to_be_visible()
    report["checkout /checkout/"] = audit(page, request, "checkout")

    failures = {where: problems for where, problems in report.items() if problems}
    width = page.viewport_size["width"]
    assert not failures, f"accessibility problems at {width} px:\n" + "\n".join(
        f"{where}:\n  " + "\n  ".join(problems) for where, problems in failures.items()
    )


def focused(page) -> dict:
    state = page.evaluate(FOCUSED)
    assert state is not None, "nothing has keyboard focus"
    return state


def assert_focus_visible(state: dict) -> None:
    assert state["indicator"], f"no visible focus indicator on {state['tag']} {state['text']!r}: {state['style']}"
    assert state["onScreen"], f"focused {state['tag']} {state['text']!r} is off screen"


def test_keyboard_reaches_skip_link_header_and_category_menu(page, catalogue, request):
    """Tab order from the top of the home page, the skip link, and the category menu with keys only."""
    page.goto("/")
    page.keyboard.press("Tab")
    first = focused(page)
    assert first["href"] == "#main" and re.search(r"skip to (main )?content", first["text"], re.I), (
        f"the first Tab stop should be the skip link, got {first}"
    )
    assert_focus_visible(first)
    page.keyboard.press("Enter")
    # Waits (up to the default timeout) rather than reading the URL at once: the fragment
    # navigation can land after the key press returns (it did once, in a run without ../shared).
    page.wait_for_url(re.compile(r"#main$"))
    assert focused(page)["tag"] == "main", "the skip link should move focus to <main>"
    page.keyboard.press("Tab")
    assert focused(page)["inMain"], "after the skip link, Tab should continue inside the main content"

    # From the top again: the header controls, each visibly focused, up to the Categories menu.
    page.goto("/")
    page.keyboard.press("Tab")
    stops = []
    for _ in range(12):
        page.keyboard.press("Tab")
        state = focused(page)
        stops.append(state)
        assert state["inHeader"], f"Tab left the header before the Categories menu: {stops}"
        assert_focus_visible(state)
        if state["tag"] == "summary":
            break
    assert stops[-1]["tag"] == "summary" and "Categories" in stops[-1]["text"], f"no Categories control: {stops}"
    assert "search-input" in {stop["testid"] for stop in stops}, f"the header search is not in the Tab order: {stops}"

    menu = page.locator("details.menu")
    menu_list = menu.locator(".menu-list")
    page.keyboard.press("Enter")
    expect(menu_list).to_be_visible()
    page.keyboard.press("Escape")
    expect(menu_list).to_be_hidden()
    state = focused(page)
    assert state["tag"] == "summary", f"Escape should return focus to the Categories control, not {state}"
    assert_focus_visible(state)
    page.keyboard.press("Space")
    expect(menu_list).to_be_visible()

    page.keyboard.press("Tab")  # a master category
    master = focused(page)
    page.keyboard.press("Tab")  # its first sub-category
    sub = focused(page)
    page.screenshot(path=artifact_path(f"{request.node.name}-menu-open"), full_page=True)
    for state in (master, sub):
        assert state["inMenu"] and state["tag"] == "a", f"Tab should walk the open menu's links, got {state}"
        assert_focus_visible(state)
    assert re.fullmatch(r"/categories/\d+/", sub["href"]), sub
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{sub['href']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(sub["text"])


def test_keyboard_signed_in_header_and_form_focus(page):
    """Signed in, the header's account controls (a link and the Log out button) are Tab stops with
    a visible focus ring, and so is the first field of a form. (No catalogue needed: cheap.)"""
    get_user_model().objects.create_user("keys", "keys@example.com", "keyboard-pass-5512")
    page.goto("/accounts/login/")
    page.locator("input[name=username]").fill("keys")
    page.locator("input[name=password]").fill("keyboard-pass-5512")
    with page.expect_navigation():
        page.locator("input[name=password]").press("Enter")
    assert "/accounts/login/" not in page.url, "login failed"
    page.goto("/accounts/password_reset/")
    seen = []
    for _ in range(20):
        page.keyboard.press("Tab")
        state = focused(page)
        seen.append(state)
        assert_focus_visible(state)
        if state["tag"] == "input" and state["inMain"]:
            break
    texts = [state["text"] for state in seen]
    assert any("Orders" in text for text in texts), f"the account link is not a Tab stop: {texts}"
    assert "Log out" in texts, f"the Log out button is not a Tab stop: {texts}"
    assert seen[-1]["tag"] == "input" and seen[-1]["inMain"], f"Tab never reached the form: {texts}"
