"""`catalog_import` and `manage.py import_catalog` on small Kaggle-layout folders made here."""

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from recommendations.models import EMBEDDING_DIMENSIONS, ProductEmbedding
from recommendations.services import active_model_name
from shop.catalog_files import CatalogError, RowProblem, StyleRow, read_style_extras, read_styles
from shop.models import Category, Product
from shop.services import catalog_import
from tests.factories import jpeg_bytes, solid_image
from tests.helpers import shared_data

pytestmark = pytest.mark.django_db

HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"

SHIRT = "901001,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual,Turtle Check Men Navy Blue Shirt"
JEANS = "901002,Men,Apparel,Bottomwear,Jeans,Blue,Summer,2012,Casual,Peter England Men Party Blue Jeans"
WATCH = "901003,Women,Accessories,Watches,Watches,Silver,Winter,2016,Casual,Titan Women Silver Watch"


def jpeg(colour=(200, 30, 30)) -> bytes:
    return jpeg_bytes(solid_image(colour))


def truncated_jpeg() -> bytes:
    pixels = np.random.default_rng(1).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    data = jpeg_bytes(Image.fromarray(pixels))
    return data[: len(data) // 3]


def make_catalog(root: Path, lines: list[str], images=None, extras=None) -> Path:
    """Write styles.csv, images/<id>.jpg (a JPEG for every row unless given) and styles/<id>.json."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "styles").mkdir(exist_ok=True)
    (root / "styles.csv").write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    if images is None:
        images = {line.split(",", 1)[0]: jpeg() for line in lines if line.split(",", 1)[0]}
    for sku, data in images.items():
        if data is not None:
            (root / "images" / f"{sku}.jpg").write_bytes(data)
    for sku, payload in (extras or {}).items():
        text = payload if isinstance(payload, str) else json.dumps(payload)
        (root / "styles" / f"{sku}.json").write_text(text, encoding="utf-8")
    return root


def style_json(price=2495, discounted=1497, brand="Turtle", description="<p>Soft <b>cotton</b> &amp; linen</p>"):
    return {
        "data": {
            "price": price,
            "discountedPrice": discounted,
            "brandName": brand,
            "productDescriptors": {"description": {"descriptorType": "description", "value": description}},
        }
    }


def skus_in_db(*skus: str) -> set[str]:
    """Which of these skus exist in the shop."""
    return set(Product.objects.filter(sku__in=skus).values_list("sku", flat=True))


# --- good rows ---


def test_good_rows_import_with_their_fields(tmp_path):
    """Every label column lands on the product and the sku is the dataset id."""
    report = catalog_import(root=make_catalog(tmp_path, [SHIRT, JEANS, WATCH]))
    assert (report.created, report.updated, report.unchanged, report.skipped) == (3, 0, 0, [])
    shirt = Product.objects.get(sku="901001")
    assert shirt.name == "Turtle Check Men Navy Blue Shirt"
    assert (shirt.gender, shirt.base_colour, shirt.season, shirt.year, shirt.usage) == (
        "Men",
        "Navy Blue",
        "Fall",
        2011,
        "Casual",
    )
    assert shirt.image.name == "products/901001/901001.jpg"
    assert len(shirt.image_sha256) == 64
    assert shirt.price is None and shirt.brand == ""
    assert skus_in_db("901001", "901002", "901003") == {"901001", "901002", "901003"}


def test_categories_form_the_master_sub_article_tree(tmp_path):
    """masterCategory → subCategory → articleType become Category levels 0/1/2 with parent links, shared."""
    catalog_import(root=make_catalog(tmp_path, [SHIRT, JEANS, WATCH]))
    shirt = Product.objects.get(sku="901001")
    assert [(node.name, node.level) for node in shirt.category.path()] == [
        ("Apparel", 0),
        ("Topwear", 1),
        ("Shirts", 2),
    ]
    assert shirt.master_category.parent is None
    jeans = Product.objects.get(sku="901002")
    assert jeans.master_category == shirt.master_category  # one "Apparel" node
    assert jeans.sub_category != shirt.sub_category
    watches = Product.objects.get(sku="901003").category
    assert watches.name == watches.parent.name == "Watches" and watches.level == 2 and watches.parent.level == 1
    products = Product.objects.filter(sku__in=["901001", "901002", "901003"])
    nodes = {node.pk: (node.name, node.level) for product in products for node in product.category.path()}
    assert sorted(nodes.values()) == [
        ("Accessories", 0),
        ("Apparel", 0),
        ("Bottomwear", 1),
        ("Jeans", 2),
        ("Shirts", 2),
        ("Topwear", 1),
        ("Watches", 1),
        ("Watches", 2),
    ]


def test_price_brand_and_description_come_from_the_json(tmp_path):
    """styles/<id>.json gives price, discounted price, brand and a description with the HTML removed."""
    catalog_import(root=make_catalog(tmp_path, [SHIRT, JEANS], extras={"901001": style_json()}))
    shirt = Product.objects.get(sku="901001")
    assert str(shirt.price) == "2495.00"
    assert str(shirt.discounted_price) == "1497.00"
    assert shirt.brand == "Turtle"
    assert "<" not in shirt.description and ">" not in shirt.description
    assert shirt.description.startswith("Soft") and "cotton" in shirt.description
    assert "& linen" in shirt.description
    jeans = Product.objects.get(sku="901002")  # no json: no price, no brand
    assert (jeans.price, jeans.discounted_price, jeans.brand, jeans.description) == (None, None, "", "")


def test_description_markup_becomes_plain_text_with_words_kept_apart(tmp_path):
    """Tags and comments go, entities become characters, adjacent blocks stay apart."""
    path = tmp_path / "1.json"
    markup = "<p>Soft</p><p>cotton &amp; linen<br/>wash cold</p><!-- note -->"
    path.write_text(json.dumps(style_json(description=markup)), encoding="utf-8")
    assert read_style_extras(path).description.split() == ["Soft", "cotton", "&", "linen", "wash", "cold"]


def test_unquoted_comma_in_name_is_repaired_and_noted(tmp_path):
    """An 11-field row (comma inside an unquoted name) keeps the full name and is reported as a note."""
    line = "902001,Men,Apparel,Topwear,Tshirts,White,Summer,2012,Casual,Nike Men Dri-FIT, Crew White Tshirt"
    report = catalog_import(root=make_catalog(tmp_path, [SHIRT, line]))
    assert report.created == 2 and report.skipped == []
    assert Product.objects.get(sku="902001").name == "Nike Men Dri-FIT, Crew White Tshirt"
    assert Product.objects.get(sku="902001").usage == "Casual"
    assert [(note.line, note.sku) for note in report.notes] == [(3, "902001")]
    assert "unquoted comma" in report.notes[0].reason


def test_quoted_name_with_comma_imports_without_note(tmp_path):
    """A properly quoted name with a comma is plain CSV: full name, no note."""
    line = '902002,Men,Apparel,Topwear,Tshirts,White,Summer,2012,Casual,"Puma Men, White Tshirt"'
    report = catalog_import(root=make_catalog(tmp_path, [line]))
    assert Product.objects.get(sku="902002").name == "Puma Men, White Tshirt"
    assert report.notes == []


def test_bare_quote_inside_name_is_kept(tmp_path):
    """A name with a bare inch mark (as ids 7491/7497 of the real file) keeps it."""
    line = "907491,Women,Apparel,Bottomwear,Shorts,Pink,Summer,2011,Sports,Nike Women's EM Tempo 3.5\" Pink Short"
    report = catalog_import(root=make_catalog(tmp_path, [line]))
    assert report.created == 1 and report.skipped == []
    assert Product.objects.get(sku="907491").name == "Nike Women's EM Tempo 3.5\" Pink Short"


# --- bad rows: skipped and reported, the good row still imports ---


@pytest.mark.parametrize(
    ("line", "image", "reason"),
    [
        (
            "903001,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Lost Photo Shirt",
            None,
            "images/903001.jpg not found",
        ),
        (
            "903001,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Text Photo Shirt",
            b"not a jpeg at all\n",
            "not an image in a supported format",
        ),
        (
            "903001,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Cut Photo Shirt",
            "truncated",
            "truncated or corrupt",
        ),
        (
            "903001,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Cut Header Shirt",
            "header-cut",
            "truncated or corrupt",
        ),
        (",Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,No Id Shirt", None, "the id is empty"),
        ("903001,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,", "jpeg", "productDisplayName is empty"),
        ("903001,Men,Apparel,Topwear,Shirts", "jpeg", "expected 10 fields, found 5"),
        ("9030 01,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Spaced Id Shirt", None, "not a valid product id"),
    ],
    ids=[
        "missing-image",
        "text-as-jpg",
        "truncated-jpeg",
        "jpeg-cut-in-header",
        "empty-id",
        "empty-name",
        "too-few-fields",
        "bad-id",
    ],
)
def test_bad_row_is_skipped_with_reason(tmp_path, line, image, reason):
    """The bad row (line 3) is skipped with its reason; the good row around it is imported."""
    cut = jpeg()[:300]  # a small solid JPEG's first 300 bytes end inside its header
    data = {"jpeg": jpeg(), "truncated": truncated_jpeg(), "header-cut": cut}.get(image, image)
    images = {"901001": jpeg(), "903001": data}
    report = catalog_import(root=make_catalog(tmp_path, [SHIRT, line], images=images))
    assert report.created == 1
    assert skus_in_db("901001", "903001", "9030 01", "") == {"901001"}
    assert len(report.skipped) == 1
    assert report.skipped[0].line == 3
    assert reason in report.skipped[0].reason


def test_duplicate_id_is_skipped_and_first_row_wins(tmp_path):
    """A second row with the same id is skipped, naming the line of the first."""
    again = "901001,Men,Apparel,Topwear,Shirts,Red,Fall,2011,Casual,Another Shirt"
    report = catalog_import(root=make_catalog(tmp_path, [SHIRT, JEANS, again]))
    assert report.created == 2
    assert [(p.line, p.sku) for p in report.skipped] == [(4, "901001")]
    assert "duplicate id (first on line 2)" in report.skipped[0].reason
    assert Product.objects.get(sku="901001").name == "Turtle Check Men Navy Blue Shirt"


def test_empty_optional_fields_import(tmp_path):
    """Rows with empty baseColour, season, year and usage import with blank values and no note."""
    line = "904001,Men,Apparel,Topwear,Tshirts,,,,,Puma Men Blue Sless Round Neck T-shirt"
    report = catalog_import(root=make_catalog(tmp_path, [line]))
    assert report.created == 1 and report.skipped == [] and report.notes == []
    product = Product.objects.get(sku="904001")
    assert (product.base_colour, product.season, product.year, product.usage) == ("", "", None, "")


def test_non_numeric_year_imports_with_none_and_note(tmp_path):
    """A year like '20l1' leaves year empty and reports a note; the product is imported."""
    line = "904002,Men,Apparel,Topwear,Shirts,Blue,Fall,20l1,Casual,Typo Year Shirt"
    report = catalog_import(root=make_catalog(tmp_path, [line]))
    assert report.created == 1
    assert Product.objects.get(sku="904002").year is None
    assert [(n.line, n.sku) for n in report.notes] == [(2, "904002")]
    assert "'20l1' is not a number" in report.notes[0].reason


@pytest.mark.parametrize(
    ("year", "phrase"),
    [
        ("-1", "out of range"),
        ("0", "out of range"),
        ("99999", "out of range"),
        ("1e9", "out of range"),
        ("inf", "not a number"),
    ],
)
def test_impossible_year_imports_with_none_and_note(tmp_path, year, phrase):
    """A year the database cannot hold leaves year empty with a note, instead of aborting the import."""
    line = f"904002,Men,Apparel,Topwear,Shirts,Blue,Fall,{year},Casual,Odd Year Shirt"
    report = catalog_import(root=make_catalog(tmp_path, [SHIRT, line]))
    assert report.created == 2
    assert Product.objects.get(sku="904002").year is None
    assert [n.sku for n in report.notes] == ["904002"]
    assert phrase in report.notes[0].reason


def test_decimal_year_is_read_as_integer(tmp_path):
    """A year written '2012.0' (as a spreadsheet export does) is stored as 2012."""
    line = "904003,Men,Apparel,Topwear,Shirts,Blue,Fall,2012.0,Casual,Float Year Shirt"
    catalog_import(root=make_catalog(tmp_path, [line]))
    assert Product.objects.get(sku="904003").year == 2012


def test_broken_json_imports_product_without_price_and_note(tmp_path):
    """An unreadable styles/<id>.json still imports the product, without price or brand, with a note."""
    report = catalog_import(root=make_catalog(tmp_path, [SHIRT], extras={"901001": '{"data": {"price": 12'}))
    assert report.created == 1
    shirt = Product.objects.get(sku="901001")
    assert (shirt.price, shirt.brand) == (None, "")
    assert len(report.notes) == 1
    assert "901001.json is not valid JSON" in report.notes[0].reason


@pytest.mark.parametrize(
    "payload",
    [
        '{"data": {"price": 1e12, "discountedPrice": 5, "brandName": "Big"}}',
        '{"data": {"price": NaN, "discountedPrice": 5, "brandName": "Big"}}',
        '{"data": {"price": -3, "discountedPrice": 5, "brandName": "Big"}}',
        '{"data": {"price": "n/a", "discountedPrice": 5, "brandName": "Big"}}',
    ],
    ids=["too-large", "nan", "negative", "text"],
)
def test_unusable_price_is_left_empty(tmp_path, payload):
    """A price the column cannot hold (huge, NaN, negative, text) is left empty; the rest of the json is used."""
    report = catalog_import(root=make_catalog(tmp_path, [SHIRT, JEANS], extras={"901001": payload}))
    assert report.created == 2
    shirt = Product.objects.get(sku="901001")
    assert shirt.price is None
    assert str(shirt.discounted_price) == "5.00"
    assert shirt.brand == "Big"


def test_description_in_unexpected_shape_is_ignored(tmp_path):
    """A json whose description is a plain string, not the dataset's object, imports without a description."""
    payload = {"data": {"price": 10, "productDescriptors": {"description": "<p>plain</p>"}}}
    report = catalog_import(root=make_catalog(tmp_path, [SHIRT], extras={"901001": payload}))
    assert report.created == 1
    shirt = Product.objects.get(sku="901001")
    assert (str(shirt.price), shirt.description) == ("10.00", "")


# --- re-running ---


def test_rerun_creates_no_duplicates_and_leaves_rows_alone(tmp_path):
    """A second import of the same folder reports everything unchanged and saves nothing."""
    root = make_catalog(tmp_path, [SHIRT, JEANS, WATCH], extras={"901001": style_json()})
    catalog_import(root=root)
    mine = Product.objects.filter(sku__in=["901001", "901002", "901003"])
    before = dict(mine.values_list("sku", "updated_at"))
    names = ["Apparel", "Topwear", "Shirts", "Bottomwear", "Jeans", "Accessories", "Watches"]
    categories = Category.objects.filter(name__in=names).count()
    embeddings = ProductEmbedding.objects.filter(product__in=mine).count()
    assert (len(before), embeddings) == (3, 3)
    report = catalog_import(root=root)
    assert (report.created, report.updated, report.unchanged, report.skipped) == (0, 0, 3, [])
    assert dict(mine.values_list("sku", "updated_at")) == before
    assert Category.objects.filter(name__in=names).count() == categories
    assert ProductEmbedding.objects.filter(product__in=mine).count() == embeddings


def test_changed_name_updates_the_product(tmp_path):
    """A row whose name changed updates that product only."""
    root = make_catalog(tmp_path, [SHIRT, JEANS])
    catalog_import(root=root)
    jeans_before = Product.objects.get(sku="901002").updated_at
    make_catalog(tmp_path, [SHIRT.replace("Turtle Check", "Turtle Plaid"), JEANS], images={})
    report = catalog_import(root=root)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert Product.objects.get(sku="901001").name == "Turtle Plaid Men Navy Blue Shirt"
    assert Product.objects.get(sku="901002").updated_at == jeans_before


def test_changed_image_updates_sha_and_resets_embedding(tmp_path):
    """A new photo changes image_sha256 and sends the ready embedding back to pending with the new sha."""
    root = make_catalog(tmp_path, [SHIRT])
    catalog_import(root=root)
    product = Product.objects.get(sku="901001")
    old_sha = product.image_sha256
    dims = EMBEDDING_DIMENSIONS[active_model_name()]
    ProductEmbedding.objects.filter(product=product).update(
        status=ProductEmbedding.Status.READY, vector=np.ones(dims, dtype=np.float32) / np.sqrt(dims)
    )
    (root / "images" / "901001.jpg").write_bytes(jpeg((20, 200, 20)))
    report = catalog_import(root=root)
    assert report.updated == 1
    product.refresh_from_db()
    assert product.image_sha256 != old_sha
    with product.image.open("rb") as file:
        assert file.read() == (root / "images" / "901001.jpg").read_bytes()
    embedding = ProductEmbedding.objects.get(product=product, model_name=active_model_name())
    assert embedding.status == ProductEmbedding.Status.PENDING
    assert embedding.vector is None
    assert embedding.source_sha256 == product.image_sha256


def test_imported_products_get_pending_embedding_for_active_model(tmp_path):
    """Each imported product has one pending embedding row for the active model, tied to its image."""
    catalog_import(root=make_catalog(tmp_path, [SHIRT, JEANS]))
    rows = ProductEmbedding.objects.select_related("product").filter(product__sku__in=["901001", "901002"])
    assert len(rows) == 2
    for row in rows:
        assert row.model_name == active_model_name()
        assert row.status == ProductEmbedding.Status.PENDING
        assert row.source_sha256 == row.product.image_sha256
        assert row.queued_at is not None


# --- a catalogue that cannot be read at all ---


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no-folder", "is not a folder"),
        ("no-styles", "needs a styles.csv"),
        ("bad-header", "expected ['id', 'gender'"),
        ("empty-styles", "is empty"),
    ],
)
def test_unreadable_catalog_raises_catalog_error(tmp_path, setup, message):
    """A missing folder, missing or empty styles.csv, or a wrong header stops the import with CatalogError."""
    root = tmp_path / "catalog"
    if setup != "no-folder":
        root.mkdir()
    if setup == "bad-header":
        (root / "styles.csv").write_text("sku,name\n1,Shirt\n")
    if setup == "empty-styles":
        (root / "styles.csv").write_text("")
    with pytest.raises(CatalogError) as caught:
        catalog_import(root=root)
    assert message in str(caught.value)


def test_command_turns_catalog_error_into_command_error(tmp_path):
    """import_catalog on a folder without styles.csv fails with CommandError carrying the message."""
    with pytest.raises(CommandError, match="needs a styles.csv"):
        call_command("import_catalog", str(tmp_path), verbosity=0, stdout=io.StringIO())


# --- the management command ---


def test_command_prints_summary_and_skipped_rows(tmp_path):
    """The command lists skipped rows with line numbers and reasons, notes, and a summary line."""
    lines = [SHIRT, JEANS, ",Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,No Id", WATCH.replace("2016", "soon")]
    root = make_catalog(tmp_path, lines, images={"901001": jpeg(), "901003": jpeg()})
    out = io.StringIO()
    call_command("import_catalog", str(root), verbosity=0, no_color=True, stdout=out)
    text = out.getvalue()
    assert "Skipped (2):" in text
    assert "line 3 id 901002: image images/901002.jpg not found" in text
    assert "line 4 id ?: the id is empty" in text
    assert "Imported with notes (1):" in text
    assert "line 5 id 901003: year 'soon' is not a number" in text
    assert "Import finished: 2 created, 0 updated, 0 unchanged, 2 skipped, 1 imported with notes." in text
    assert skus_in_db("901001", "901002", "901003") == {"901001", "901003"}


def test_command_limit_and_show(tmp_path):
    """--limit imports only the first rows; --show caps the listed skipped rows with a '... and N more' line."""
    lines = [f"{905000 + i},Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Shirt {i}" for i in range(6)]
    root = make_catalog(tmp_path, lines, images={"905000": jpeg()})
    out = io.StringIO()
    call_command("import_catalog", str(root), "--limit", "4", "--show", "1", verbosity=0, no_color=True, stdout=out)
    text = out.getvalue()
    assert "Skipped (3):" in text
    assert "line 3 id 905001" in text and "line 4 id 905002" not in text
    assert "... and 2 more" in text
    assert "Import finished: 1 created, 0 updated, 0 unchanged, 3 skipped" in text


def test_command_report_writes_csv_of_skipped_rows(tmp_path):
    """--report FILE writes every skipped row (and note) with line, id, outcome and reason."""
    lines = [SHIRT, JEANS, "901004,Men,Apparel", WATCH.replace("2016", "soon")]
    root = make_catalog(tmp_path / "catalog", lines, images={"901001": jpeg(), "901003": jpeg()})
    report_path = tmp_path / "skipped.csv"
    out = io.StringIO()
    call_command("import_catalog", str(root), "--report", str(report_path), verbosity=0, no_color=True, stdout=out)
    assert f"Report written to {report_path}" in out.getvalue()
    with report_path.open(newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["line", "id", "outcome", "reason"]
    assert rows[1:] == [
        ["3", "901002", "skipped", "image images/901002.jpg not found"],
        ["4", "901004", "skipped", "expected 10 fields, found 3"],
        ["5", "901003", "note", "year 'soon' is not a number and was left empty"],
    ]


# --- the real label file (CI has it; a fresh machine may not: tests.helpers.shared_data) ---


def test_real_styles_file_reads_every_row():
    """styles_full.csv gives 44,446 rows and no problems; 22 unquoted-comma names repaired; bare quotes kept."""
    items = list(read_styles(shared_data("styles_full.csv")))
    assert len(items) == 44446
    assert [item for item in items if isinstance(item, RowProblem)] == []
    repaired = [row for row in items if any("unquoted comma" in note for note in row.notes)]
    assert len(repaired) == 22
    assert all("," in row.name for row in repaired)
    names = {row.sku: row.name for row in items if isinstance(row, StyleRow)}
    assert len(names) == 44446  # ids are unique
    assert names["7491"] == "Nike Women's EM Tempo 3.5\" Pink Short"
    assert names["7497"] == "Nike Women's EM Tempo 3.5\" Purple Short"


def test_real_head_of_styles_file_imports_what_has_images(tmp_path):
    """The first 300 lines with the sample photos: rows with a photo import, the rest are skipped 'not found'."""
    styles, images = shared_data("styles_full.csv"), shared_data("fashion-sample/images")
    head = styles.read_text(encoding="utf-8").splitlines()[:300]
    (tmp_path / "images").mkdir()
    (tmp_path / "styles.csv").write_text("\n".join(head) + "\n", encoding="utf-8")
    ids = [line.split(",", 1)[0] for line in head[1:]]
    present = [sku for sku in ids if (images / f"{sku}.jpg").is_file()]
    for sku in present:
        shutil.copy(images / f"{sku}.jpg", tmp_path / "images" / f"{sku}.jpg")
    assert present, "the sample should hold some of the first 300 ids"
    report = catalog_import(root=tmp_path)
    assert report.created == len(present)
    assert sorted(problem.sku for problem in report.skipped) == sorted(set(ids) - set(present))
    assert all(problem.reason.endswith("not found") for problem in report.skipped)
    assert Product.objects.filter(sku__in=present, category__level=2).count() == len(present)


SKU_RULE = (
    "A SKU may contain only letters, digits, hyphens, underscores and dots, and must start with a letter or digit."
)


def test_import_skips_an_id_that_cannot_be_a_sku(tmp_path):
    """The dataset id becomes the SKU, which names the image folder: ".." and the like are skipped with the reason."""
    root = make_catalog(
        tmp_path / "ds",
        [
            SHIRT,
            "..,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Dots Shirt",
            "_9,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Under Shirt",
        ],
    )
    report = catalog_import(root=root)
    assert report.created == 1 and skus_in_db("901001", "..", "_9") == {"901001"}
    assert [(p.sku, p.reason) for p in report.skipped] == [("..", SKU_RULE), ("_9", SKU_RULE)]
