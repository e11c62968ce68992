"""The self-drawn demo catalogue: layout, determinism, colours and drawings."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from demo.catalog import COLOURS, DEMO_CATEGORIES, PATTERNS, draw_product, generate_demo_catalog
from shop.catalog_files import StyleRow, read_styles

HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"
ARTICLE_TYPES = [a for subs in DEMO_CATEGORIES.values() for articles in subs.values() for a in articles]
# Too close to the light studio background to be told apart from it by a pixel test.
LIGHT_COLOURS = {"White", "Off White", "Cream"}


def read_rows(root: Path) -> list[dict[str, str]]:
    with (root / "styles.csv").open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def dominant_colour(image: Image.Image) -> tuple[np.ndarray, float]:
    """Median colour of the pixels that stand out from the background, and their share."""
    pixels = np.asarray(image.convert("RGB")).astype(np.int16)
    border = np.concatenate([pixels[:, :6], pixels[:, -6:]], axis=1)
    background = np.median(border, axis=1)[:, None, :]  # the backdrop is a vertical gradient
    foreground = np.abs(pixels - background).max(axis=2) > 45
    return np.median(pixels[foreground], axis=0), float(foreground.mean())


def distance(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)))


@pytest.fixture(autouse=True)
def media_root(tmp_path):
    """Overrides the suite's autouse fixture of the same name: these tests need no Django settings."""
    return tmp_path / "media"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "catalog"
    calls = []
    result = generate_demo_catalog(root, count=80, seed=7, progress=calls.append)
    assert result == root
    assert calls == [1] * 80
    return root


def test_layout_csv_images_and_json(catalog):
    lines = (catalog / "styles.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER
    with (catalog / "styles.csv").open(newline="", encoding="utf-8") as file:
        records = list(csv.reader(file))
    assert all(len(record) == 10 for record in records)
    rows = read_rows(catalog)
    assert len(rows) == 80
    for row in rows:
        image_path = catalog / "images" / f"{row['id']}.jpg"
        with Image.open(image_path) as image:
            assert image.format == "JPEG"
            assert image.mode == "RGB"
            assert image.size == (300, 400)
            image.load()
            corner = image.getpixel((2, 2))
        assert min(corner) > 200, "the background should be light"
        data = json.loads((catalog / "styles" / f"{row['id']}.json").read_text(encoding="utf-8"))["data"]
        assert data["id"] == int(row["id"])
        assert data["productDisplayName"] == row["productDisplayName"]
        assert isinstance(data["price"], int) and isinstance(data["discountedPrice"], int)
        assert 0 < data["discountedPrice"] <= data["price"]
        assert data["brandName"] and row["productDisplayName"].startswith(data["brandName"])
        description = data["productDescriptors"]["description"]
        assert description["descriptorType"] == "description"
        assert description["value"].startswith("<p>") and description["value"].endswith("</p>")
        assert data["articleAttributes"]["Pattern"] in PATTERNS.values()
    assert len(list((catalog / "images").iterdir())) == 80
    assert len(list((catalog / "styles").iterdir())) == 80


def test_values_follow_the_dataset_vocabulary(catalog):
    rows = read_rows(catalog)
    for row in rows:
        assert row["articleType"] in DEMO_CATEGORIES[row["masterCategory"]][row["subCategory"]]
        assert row["baseColour"] in COLOURS
        assert row["gender"] in {"Men", "Women", "Boys", "Girls", "Unisex"}
        assert row["season"] in {"Summer", "Winter", "Fall", "Spring"}
        assert 2011 <= int(row["year"]) <= 2018
        assert row["usage"] in {"Casual", "Formal", "Sports", "Ethnic", "Party"}
        assert f" {row['gender']} {row['baseColour']} " in row["productDisplayName"]
    assert all(row["gender"] == "Women" for row in rows if row["articleType"] == "Handbags")
    assert all(row["gender"] in {"Women", "Girls"} for row in rows if row["articleType"] in {"Dresses", "Skirts"})


def test_names_with_commas_are_quoted(catalog):
    text = (catalog / "styles.csv").read_text(encoding="utf-8")
    with_comma = [row for row in read_rows(catalog) if "," in row["productDisplayName"]]
    assert with_comma, "a few names should contain a comma"
    for row in with_comma:
        assert f'"{row["productDisplayName"]}"' in text


def test_count_ids_and_article_types(catalog):
    rows = read_rows(catalog)
    ids = [int(row["id"]) for row in rows]
    assert ids == list(range(1, 81))
    types = {row["articleType"] for row in rows}
    assert types == set(ARTICLE_TYPES), "with 21 or more products every article type appears"
    assert len({row["baseColour"] for row in rows}) >= 10


def test_small_catalogue_and_custom_size(tmp_path):
    root = generate_demo_catalog(tmp_path / "small", count=5, seed=3, size=(150, 200))
    rows = read_rows(root)
    assert [row["id"] for row in rows] == ["1", "2", "3", "4", "5"]
    assert len({row["articleType"] for row in rows}) == 5
    with Image.open(root / "images" / "1.jpg") as image:
        assert image.size == (150, 200)


def test_same_seed_gives_identical_bytes(tmp_path):
    first = generate_demo_catalog(tmp_path / "a", count=25, seed=11)
    second = generate_demo_catalog(tmp_path / "b", count=25, seed=11)
    files = sorted(path.relative_to(first) for path in first.rglob("*") if path.is_file())
    assert len(files) == 1 + 25 + 25
    assert files == sorted(path.relative_to(second) for path in second.rglob("*") if path.is_file())
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_different_seed_gives_a_different_catalogue(tmp_path):
    first = generate_demo_catalog(tmp_path / "a", count=25, seed=1)
    second = generate_demo_catalog(tmp_path / "b", count=25, seed=2)
    assert (first / "styles.csv").read_bytes() != (second / "styles.csv").read_bytes()
    differing = sum(
        (first / "images" / f"{i}.jpg").read_bytes() != (second / "images" / f"{i}.jpg").read_bytes()
        for i in range(1, 26)
    )
    assert differing == 25


def test_catalogue_colour_is_the_drawn_colour(catalog):
    rows = read_rows(catalog)
    checked = 0
    for row in rows:
        if row["baseColour"] in LIGHT_COLOURS:
            continue
        pattern = json.loads((catalog / "styles" / f"{row['id']}.json").read_text())["data"]["articleAttributes"]
        with Image.open(catalog / "images" / f"{row['id']}.jpg") as image:
            colour, share = dominant_colour(image)
        assert share > 0.05, f"product {row['id']} is barely visible"
        # stripes, checks and prints mix in a second colour, so allow a little more there
        limit = 50 if pattern["Pattern"] == "Solid" else 75
        assert distance(colour, COLOURS[row["baseColour"]]) < limit, (row, colour.tolist())
        checked += 1
    assert checked > 50


@pytest.mark.parametrize("colour", sorted(set(COLOURS) - LIGHT_COLOURS))
def test_draw_product_uses_the_named_colour(colour):
    # two article types per colour, rotating through all of them
    index = sorted(COLOURS).index(colour)
    for article in (ARTICLE_TYPES[index % 21], ARTICLE_TYPES[(index * 5 + 3) % 21]):
        image = draw_product(article, colour, "solid", random.Random(index))
        found, _ = dominant_colour(image)
        assert distance(found, COLOURS[colour]) < 50, (article, colour, found.tolist())


def test_light_colours_are_still_visible():
    image = draw_product("Tshirts", "White", "solid", random.Random(0))
    pixels = np.asarray(image.convert("L")).astype(int)
    # the outline and seams separate a white garment from the white background
    assert (pixels < 200).mean() > 0.005


def test_draw_product_basics():
    image = draw_product("Watches", "Black", "solid", random.Random(1))
    assert image.mode == "RGB" and image.size == (300, 400)
    assert draw_product("Caps", "Red", "stripes", random.Random(2), size=(120, 160)).size == (120, 160)
    again = draw_product("Watches", "Black", "solid", random.Random(1))
    assert image.tobytes() == again.tobytes()
    for pattern in PATTERNS:
        assert draw_product("Dresses", "Teal", pattern, random.Random(3)).size == (300, 400)
    with pytest.raises(ValueError):
        draw_product("Spaceships", "Black", "solid", random.Random(0))
    with pytest.raises(ValueError):
        draw_product("Tshirts", "Ultraviolet", "solid", random.Random(0))
    with pytest.raises(ValueError):
        draw_product("Tshirts", "Black", "paisley-ish", random.Random(0))


def silhouette(image: Image.Image) -> np.ndarray:
    pixels = np.asarray(image.convert("L")).astype(int)
    return pixels < 200


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_same_type_looks_alike_but_not_identical():
    rng = random.Random(5)
    masks = {
        article: [silhouette(draw_product(article, "Navy Blue", "solid", rng)) for _ in range(3)]
        for article in ("Tshirts", "Jeans", "Sports Shoes", "Watches", "Sunglasses", "Handbags")
    }
    within = [iou(m[i], m[j]) for m in masks.values() for i in range(3) for j in range(i + 1, 3)]
    across = [iou(masks[a][0], masks[b][0]) for i, a in enumerate(masks) for b in list(masks)[i + 1 :]]
    assert min(within) < 0.995, "products of one type should not be identical"
    assert np.mean(within) > np.mean(across) + 0.2
    assert np.mean(within) > 0.6


def test_the_shop_importer_reads_the_demo_catalogue(catalog):
    """Every row of the drawn catalogue reads cleanly with the shop's own reader: no problem, no repair."""
    results = list(read_styles(catalog / "styles.csv"))
    assert len(results) == 80
    for result in results:
        assert isinstance(result, StyleRow), result  # not a RowProblem
        assert not result.notes, result
