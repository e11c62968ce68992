"""import_interactions: the H&M and Online Retail layouts on small files with every quirk of the real ones."""

import csv
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from events.imports import InteractionFileError, interactions_import
from events.models import Interaction
from recommendations.models import ProductEmbedding
from shop.models import Product
from tests.factories import jpeg_bytes, solid_image

pytestmark = pytest.mark.django_db

ARTICLE_HEADER = (
    "article_id,product_code,prod_name,product_type_no,product_type_name,product_group_name,graphical_appearance_no,"
    "graphical_appearance_name,colour_group_code,colour_group_name,perceived_colour_value_id,perceived_colour_value_name,"
    "perceived_colour_master_id,perceived_colour_master_name,department_no,department_name,index_code,index_name,"
    "index_group_no,index_group_name,section_no,section_name,garment_group_no,garment_group_name,detail_desc"
)
CUSTOMER_A = "a" * 64
CUSTOMER_B = "b" * 64
UPPER = "Garment Upper body"


def article(article_id: str, name: str, product_type: str, group: str, index_group: str, colour: str, desc: str) -> str:
    return (
        f"{article_id},{article_id[:7]},{name},253,{product_type},{group},1010016,Solid,09,{colour},4,Dark,5,Black,"
        f'1676,Jersey Basic,A,Ladieswear,1,{index_group},16,Womens Everyday Basics,1002,Jersey Basic,"{desc}"'
    )


def write_hm(root: Path, *, with_customers: bool = True) -> Path:
    (root / "images" / "010").mkdir(parents=True)
    (root / "images" / "010" / "0108775015.jpg").write_bytes(jpeg_bytes(solid_image((10, 10, 10))))
    (root / "images" / "010" / "0108775044.jpg").write_bytes(b"not a jpeg")  # broken: imported without it
    # 0110065001 has no image file at all.
    (root / "articles.csv").write_text(
        "\n".join(
            [
                ARTICLE_HEADER,
                article("0108775015", "Strap top", "Vest top", UPPER, "Ladieswear", "Black", "Soft, narrow"),
                # A copy that read the id as a number dropped its leading zero: padded back to 10 digits.
                article("108775044", "Strap top (1)", "Vest top", UPPER, "Ladieswear", "White", "Same"),
                article("0110065001", "OP T-shirt", "Bra", "Underwear", "Menswear", "Grey", ""),
                article("12ab", "Broken id", "Bra", "Underwear", "Menswear", "Grey", ""),
            ]
        )
        + "\n"
    )
    (root / "transactions_train.csv").write_text(
        "\n".join(
            [
                "t_dat,customer_id,article_id,price,sales_channel_id",
                f"2020-09-01,{CUSTOMER_A},0108775015,0.0169,2",
                f"2020-09-01,{CUSTOMER_A},0108775015,0.0169,2",  # repeated row: a second unit
                f"2020-09-01,{CUSTOMER_A},108775044,0.0339,2",  # leading zero dropped
                f"2020-09-02,{CUSTOMER_B},0110065001,0.0085,1",
                f"2020-09-03,{CUSTOMER_B},0108775015,0.0203,1",  # the latest price of 0108775015
                f"2020-13-45,{CUSTOMER_B},0108775015,0.0203,1",  # bad date
                f"2020-09-03,{CUSTOMER_B},0108775015,cheap,1",  # bad price
                "2020-09-03,,0108775015,0.0203,1",  # no customer
                f"2020-09-03,{CUSTOMER_B},0999999999,0.0203,1",  # an article not in articles.csv
            ]
        )
        + "\n"
    )
    if with_customers:
        (root / "customers.csv").write_text(
            "customer_id,FN,Active,club_member_status,fashion_news_frequency,age,postal_code\n"
            f"{CUSTOMER_A},,,ACTIVE,NONE,21,x\n{CUSTOMER_B},1.0,1.0,ACTIVE,Regularly,33,y\n"
        )
    return root


def test_hm_layout_imports_articles_and_purchases_with_every_quirk(tmp_path):
    summary = interactions_import(root=write_hm(tmp_path), layout="hm")

    assert summary.products_created == 3 and summary.products_without_image == 2
    top = Product.objects.get(sku="hm-0108775015")
    assert top.name == "Strap top" and top.base_colour == "Black" and top.description == "Soft, narrow"
    assert [node.name for node in top.category.path()] == ["Ladieswear", UPPER, "Vest top"]
    assert top.price == Decimal("20.30"), "the latest sale's price, x1000 (Kaggle's prices are scaled)"
    assert top.image and ProductEmbedding.objects.filter(product=top).exists(), "embedded as any other product"
    padded = Product.objects.get(sku="hm-0108775044")
    assert not padded.image, "a broken image: imported without it"
    assert not Product.objects.get(sku="hm-0110065001").image, "no image file: imported without one"

    purchases = Interaction.objects.filter(source="hm", kind="purchase")
    assert purchases.filter(product=top, customer_key=CUSTOMER_A).count() == 2, "a repeated row is another unit"
    assert purchases.filter(product=padded).count() == 1
    assert purchases.count() == 5 and summary.events_added == 5
    first = purchases.filter(product=top).order_by("created_at").first()
    assert first.created_at.isoformat() == "2020-09-01T00:00:00+00:00", "the file's date is kept"
    assert first.basket == f"{CUSTOMER_A[:40]}:2020-09-01" and not first.user_id

    reasons = {(problem.line, problem.reason) for problem in summary.skipped}
    assert (5, "article_id '12ab' is not a number of up to 10 digits") in reasons
    assert (7, "t_dat '2020-13-45' is not a date YYYY-MM-DD") in reasons
    assert (8, "price 'cheap' is not a number of 0 or more") in reasons
    assert any(line == 9 and "customer_id" in reason for line, reason in reasons)
    assert (10, "product not among the imported products") in reasons
    assert len(summary.skipped) == 5
    notes = " ".join(problem.reason for problem in summary.notes)
    assert "no images/011/0110065001.jpg" in notes and "0108775044.jpg unreadable" in notes


def test_hm_rerun_duplicates_nothing_and_customers_file_is_optional(tmp_path):
    root = write_hm(tmp_path, with_customers=False)
    interactions_import(root=root, layout="hm")
    again = interactions_import(root=root, layout="hm")
    assert again.events_added == 0 and again.events_existing == 5
    assert again.products_created == 0 and again.products_unchanged == 3
    assert Interaction.objects.count() == 5 and Product.objects.count() == 3


RETAIL_ROWS = [
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country",
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom",  # 2
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",  # 3 spreadsheet id
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2,2010-12-01 08:26:00,2.55,17850,United Kingdom",  # 4 same code
    "536370,POST,POSTAGE,3,2010-12-01 08:45:00,18.00,12583,France",  # 5 postage
    "536370,BANK CHARGES,Bank Charges,1,2010-12-01 08:45:00,15.00,12583,France",  # 6
    "536371,m,Manual,1,2010-12-01 09:00:00,2.55,,United Kingdom",  # 7 lower-case manual line
    "536372,22633,HAND WARMER UNION JACK,6,2010-12-01 09:01:00,1.85,,United Kingdom",  # 8 no customer
    "536372,71053,WHITE METAL LANTERN,2,2010-12-01 09:01:00,3.39,,United Kingdom",  # 9 no customer
    "C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-1,2010-12-01 09:41:00,2.55,17850,United Kingdom",  # 10
    "536380,22633,damaged,-12,2010-12-01 09:45:00,0,,United Kingdom",  # 11 negative quantity, no C
    "536381,22633,HAND WARMER UNION JACK,six,2010-12-01 09:50:00,1.85,17850,United Kingdom",  # 12 bad quantity
    "536382,22633,HAND WARMER UNION JACK,1,2010-13-01 09:50:00,1.85,17850,United Kingdom",  # 13 bad date
    "536383,22633,HAND WARMER UNION JACK,1,2010-12-01 09:50:00,£1.85,17850,United Kingdom",  # 14 bad price
    "536384,84029G,,0,2010-12-01 09:50:00,1.85,17850,United Kingdom",  # 15 quantity 0
    "536385,84029G,,4,12/2/2010 10:03,3.39,13047,United Kingdom",  # 16 the UCI spreadsheet's date form
]


def write_retail(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "online_retail.csv").write_text("\n".join(RETAIL_ROWS) + "\n")
    return root


def test_online_retail_invoices_returns_baskets_and_reported_rows(tmp_path):
    summary = interactions_import(root=write_retail(tmp_path / "retail"), layout="online-retail")

    assert set(Product.objects.values_list("sku", flat=True)) == {"or-85123A", "or-71053", "or-22633", "or-84029G"}
    heart = Product.objects.get(sku="or-85123A")
    assert heart.name == "WHITE HANGING HEART T-LIGHT HOLDER" and heart.price == Decimal("2.55") and not heart.image
    assert Product.objects.get(sku="or-84029G").name == "Stock item 84029G", "no description anywhere"

    events = Interaction.objects.filter(source="online-retail")
    invoice = events.filter(basket="536365")
    assert invoice.count() == 3, "the same code twice on one invoice is two lines"
    assert set(invoice.values_list("customer_key", flat=True)) == {"17850"}
    anonymous = events.filter(basket="536372")
    assert anonymous.count() == 2 and set(anonymous.values_list("customer_key", flat=True)) == {""}
    cancelled = events.get(basket="C536379")
    assert (cancelled.kind, cancelled.quantity, cancelled.customer_key) == ("return", 1, "17850")
    adjustment = events.get(basket="536380")
    assert (adjustment.kind, adjustment.quantity) == ("return", 12)
    assert events.get(basket="536385").created_at.isoformat() == "2010-12-02T10:03:00+00:00"
    assert events.get(basket="536365", product__sku="or-71053").created_at.isoformat() == "2010-12-01T08:26:00+00:00"
    assert events.count() == 8 and summary.kinds == {"purchase": 6, "return": 2}

    reasons = {problem.line: problem.reason for problem in summary.skipped}
    assert reasons[5] == "non-product stock code POST (POSTAGE)"
    assert reasons[6] == "non-product stock code BANK CHARGES (Bank Charges)"
    assert reasons[7] == "non-product stock code M (Manual)"
    assert reasons[12] == "Quantity 'six' is not a whole number"
    assert reasons[13] == "InvoiceDate '2010-13-01 09:50:00' is not a date and time"
    assert reasons[14] == "UnitPrice '£1.85' is not a number of 0 or more"
    assert reasons[15] == "Quantity is 0"
    assert len(reasons) == 7


def test_online_retail_rerun_through_the_command_duplicates_nothing_and_writes_the_report(tmp_path):
    root = write_retail(tmp_path / "retail")
    report = tmp_path / "problems.csv"
    out = StringIO()
    call_command("import_interactions", str(root), layout="online-retail", report=report, stdout=out, verbosity=0)
    assert "events: 8 added, 0 already imported" in out.getvalue()
    assert "online_retail.csv line 5 536370/POST: non-product stock code POST (POSTAGE)" in out.getvalue()
    rows = list(csv.DictReader(report.open()))
    assert len([row for row in rows if row["outcome"] == "skipped"]) == 7
    assert {"file": "online_retail.csv", "line": "15", "key": "536384/84029G", "outcome": "skipped"}.items() <= (
        next(row for row in rows if row["line"] == "15").items()
    )
    again = StringIO()
    call_command("import_interactions", str(root), layout="online-retail", stdout=again, verbosity=0)
    assert "events: 0 added, 8 already imported" in again.getvalue()
    assert "products: 0 created, 0 updated, 4 unchanged" in again.getvalue()
    assert Interaction.objects.count() == 8 and Product.objects.count() == 4


def test_unreadable_histories_are_clear_errors_and_import_nothing(tmp_path):
    with pytest.raises(CommandError, match="not found"):
        call_command("import_interactions", str(tmp_path / "nowhere"), layout="hm", verbosity=0)
    (tmp_path / "articles.csv").write_text("id,name\n1,x\n")
    (tmp_path / "transactions_train.csv").write_text("t_dat,customer_id,article_id,price\n")
    with pytest.raises(CommandError, match="articles.csv lacks the column"):
        call_command("import_interactions", str(tmp_path), layout="hm", verbosity=0)
    retail = tmp_path / "retail"
    retail.mkdir()
    (retail / "a.csv").write_text("InvoiceNo,StockCode\n")
    with pytest.raises(InteractionFileError, match="lacks the column"):
        interactions_import(root=retail, layout="online-retail")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("import_interactions", str(retail), layout="amazon", verbosity=0)
    assert not Product.objects.exists() and not Interaction.objects.exists()
