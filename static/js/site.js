// Progressive enhancement only: every control works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // Apply a new sort order as soon as it is chosen.
  document.querySelectorAll("form.sort-form select").forEach((select) => {
    select.addEventListener("change", () => select.form.requestSubmit());
  });
  // On small screens the filter panel starts folded so the results show first.
  if (window.matchMedia("(max-width: 800px)").matches) {
    document.querySelectorAll("details.facets-panel").forEach((panel) => { panel.open = false; });
  }
  // Escape closes an open menu and returns focus to its toggle; so does a click elsewhere.
  const menus = document.querySelectorAll("details.menu");
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    menus.forEach((menu) => {
      if (menu.open) {
        menu.open = false;
        menu.querySelector("summary").focus();
      }
    });
  });
  document.addEventListener("click", (event) => {
    menus.forEach((menu) => {
      if (menu.open && !menu.contains(event.target)) menu.open = false;
    });
  });
  // A card in a recommendation list names its list in data-ref. The link gets ?ref=<list> only as it
  // is followed (click, middle click, keyboard), so the address shown, copied and shared stays clean;
  // the product page records the click and redirects to the address without ref.
  const followWithRef = (event) => {
    const link = event.target.closest && event.target.closest("a[data-ref]");
    if (!link) return;
    const clean = link.getAttribute("href");
    const url = new URL(clean, window.location.href);
    url.searchParams.set("ref", link.dataset.ref);
    link.setAttribute("href", url.pathname + url.search);
    setTimeout(() => link.setAttribute("href", clean), 0);
  };
  document.addEventListener("click", followWithRef);
  document.addEventListener("auxclick", followWithRef);
});
