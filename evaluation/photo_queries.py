"""Held-out "shopper photo" query sets built from studio catalogue images.

Search by photo is judged on photos people take of garments (on a bed, a floor, a hanger),
which the project does not have. This module imitates them from a Kaggle-layout catalogue:
products that are NOT in the searchable catalogue get their studio photo cut out of its
near-white background (mask from the background connected to the border), laid on a
procedural texture (bed sheet, wood floor, carpet, tiles, wall with a hanger), then
rotated, warped in perspective, cropped, re-lit, colour-cast, blurred, noised and
re-compressed as JPEG. Every random choice comes from a generator seeded with
(seed, product id), so one product always gives the same photo whatever else is built.

Output: `<id>.jpg` files, `labels.csv` (file,label; label = articleType), `label_map.json`
(which catalogue articleTypes count as a match for each label) and `manifest.csv` (the
source product and the scene of each file).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from shop.catalog_files import CatalogError, RowProblem, read_styles

SCENES = ("bed", "wood_floor", "carpet", "tiles", "hanger", "studio")
# Share of each scene; "studio" keeps the white background but still gets the camera effects.
SCENE_WEIGHTS = (0.26, 0.2, 0.16, 0.1, 0.18, 0.1)
# Three shoe types nobody tells apart on a phone photo; every other label matches itself only.
LABEL_GROUPS = (("Casual Shoes", "Sports Shoes", "Formal Shoes"),)
DEFAULT_MASTER_CATEGORIES = ("Apparel", "Footwear", "Accessories")
OUTPUT_LONG_SIDE = 640
# Every product belongs to one split by its id: "tuning" sets choose settings, "confirmation" sets
# confirm them, "test" sets hold the test suite's floors; a product is in one kind of set only.
SPLITS = ("tuning", "confirmation", "test")


class PhotoQueryError(Exception):
    """The query set cannot be built (missing folder, no eligible products)."""


@dataclass(frozen=True)
class StyleRow:
    id: int
    master_category: str
    article_type: str


def styles_read(dataset: Path) -> list[StyleRow]:
    """The products of a Kaggle-layout folder (styles.csv, read by the shop's importer) that have
    an image and an article type, by id."""
    dataset = Path(dataset)
    if not (dataset / "styles.csv").is_file():
        raise PhotoQueryError(f"{dataset} has no styles.csv.")
    try:
        read = list(read_styles(dataset / "styles.csv"))
    except CatalogError as exc:
        raise PhotoQueryError(str(exc)) from None
    rows = []
    for row in read:
        if isinstance(row, RowProblem) or not row.article_type or not row.sku.isdigit():
            continue
        if (dataset / "images" / f"{row.sku}.jpg").is_file():
            rows.append(StyleRow(int(row.sku), row.master_category, row.article_type))
    return sorted(rows, key=lambda row: row.id)


def product_split(product_id: int) -> str:
    """The query-set split a product belongs to, fixed by its id alone (SHA-256, not the seed)."""
    digest = hashlib.sha256(str(product_id).encode()).digest()
    return SPLITS[int.from_bytes(digest[:8], "big") % len(SPLITS)]


def products_choose(
    rows: Sequence[StyleRow],
    *,
    count: int,
    seed: int,
    catalogue: Sequence[StyleRow] = (),
    min_catalogue_products: int = 5,
    master_categories: Sequence[str] | None = DEFAULT_MASTER_CATEGORIES,
    split: str | None = None,
) -> list[StyleRow]:
    """`count` held-out products: not in the catalogue, of an articleType the catalogue has at least
    `min_catalogue_products` of, in the given master categories; no articleType gets more than a
    tenth of the set (unless there are too few types), so the set is not mostly t-shirts.

    With `split` only that split's products are drawn from, so sets of different splits never share
    a source product, whatever their seeds and counts (tuning and confirmation stay apart).
    """
    if split is not None and split not in SPLITS:
        raise PhotoQueryError(f"Unknown split {split!r}; expected one of {', '.join(SPLITS)}.")
    in_catalogue = {row.id for row in catalogue}
    type_counts = Counter(row.article_type for row in catalogue)
    eligible = [
        row
        for row in rows
        if row.id not in in_catalogue
        and (not catalogue or type_counts[row.article_type] >= min_catalogue_products)
        and (not master_categories or row.master_category in master_categories)
        and (split is None or product_split(row.id) == split)
    ]
    if not eligible:
        raise PhotoQueryError("No product is eligible: check the dataset, the catalogue and the master categories.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(eligible))
    types = {row.article_type for row in eligible}
    cap = max(int(np.ceil(count / 10)), int(np.ceil(count / len(types))))
    chosen: list[StyleRow] = []
    per_type: Counter[str] = Counter()
    for index in order:
        row = eligible[index]
        if per_type[row.article_type] >= cap:
            continue
        chosen.append(row)
        per_type[row.article_type] += 1
        if len(chosen) == count:
            break
    return sorted(chosen, key=lambda row: row.id)


# --------------------------------------------------------------------------- textures


def _smooth_noise(rng: np.random.Generator, height: int, width: int, scale: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: a coarse random grid resized smoothly (bicubic)."""
    coarse = rng.standard_normal((max(2, height // scale), max(2, width // scale))).astype(np.float32)
    image = Image.fromarray(coarse, mode="F").resize((width, height), Image.Resampling.BICUBIC)
    values = np.asarray(image, dtype=np.float32)
    return values / (np.abs(values).max() + 1e-6)


def _colour(rng: np.random.Generator, palette: Sequence[tuple[int, int, int]], jitter: float = 12) -> np.ndarray:
    base = np.asarray(palette[rng.integers(len(palette))], dtype=np.float32)
    return np.clip(base + rng.normal(0, jitter, 3), 0, 255)


def _bed(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    palette = [(236, 232, 224), (205, 214, 228), (226, 205, 210), (190, 200, 186), (120, 130, 160), (240, 240, 240)]
    base = _colour(rng, palette)
    folds = 0.6 * _smooth_noise(rng, height, width, 90) + 0.4 * _smooth_noise(rng, height, width, 35)
    shade = 1 + 0.12 * folds
    pattern = np.ones((height, width), np.float32)
    kind = rng.integers(3)
    if kind == 1:  # stripes
        period = rng.uniform(18, 45)
        angle = rng.uniform(0, np.pi)
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        phase = (x * np.cos(angle) + y * np.sin(angle) + 8 * folds) / period
        pattern = 1 - 0.12 * (np.sin(2 * np.pi * phase) > 0.3)
    elif kind == 2:  # check
        period = rng.uniform(25, 60)
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        pattern = 1 - 0.07 * ((np.floor(x / period) + np.floor(y / period)) % 2)
    weave = 1 + 0.025 * rng.standard_normal((height, width)).astype(np.float32)
    return base * (shade * pattern * weave)[..., None]


def _wood_floor(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    palette = [(150, 105, 70), (180, 135, 90), (110, 75, 50), (200, 165, 120), (135, 100, 80)]
    plank = rng.uniform(55, 110)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    if rng.random() < 0.5:
        x, y = y, x
    index = np.floor(x / plank)
    tone = np.asarray([_colour(rng, palette, 6) for _ in range(int(index.max()) + 2)], dtype=np.float32)
    base = tone[index.astype(int)]
    offset = rng.uniform(0, 100, int(index.max()) + 2)[index.astype(int)]
    grain = np.sin((x * 0.9 + 6 * np.sin((y + offset) / 37.0)) / rng.uniform(1.5, 3.5))
    shade = 1 + 0.05 * grain + 0.08 * _smooth_noise(rng, height, width, 60)
    gaps = (x % plank) < 1.6
    shade = np.where(gaps, 0.55, shade)
    return base * shade[..., None]


def _carpet(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    palette = [(140, 140, 140), (170, 150, 120), (90, 95, 110), (160, 70, 60), (200, 195, 185), (70, 90, 70)]
    base = _colour(rng, palette)
    fibres = rng.standard_normal((height, width, 3)).astype(np.float32) * 14
    image = Image.fromarray(np.clip(base + fibres, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))
    shade = 1 + 0.08 * _smooth_noise(rng, height, width, 50)
    return np.asarray(image, dtype=np.float32) * shade[..., None]


def _tiles(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    palette = [(200, 198, 190), (170, 170, 175), (215, 205, 185), (120, 120, 118)]
    base = _colour(rng, palette, 8)
    size = rng.uniform(80, 160)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    grout = ((x % size) < 3) | ((y % size) < 3)
    shade = 1 + 0.05 * _smooth_noise(rng, height, width, 40) + 0.02 * rng.standard_normal((height, width))
    shade = np.where(grout, 0.75, shade).astype(np.float32)
    return base * shade[..., None]


def _wall(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    palette = [(235, 230, 220), (220, 215, 200), (200, 210, 215), (240, 236, 230), (185, 170, 150)]
    base = _colour(rng, palette, 6)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    light = 1 + rng.uniform(-0.12, 0.12) * (x - 0.5) + rng.uniform(-0.1, 0.1) * (y - 0.5)
    shade = light + 0.03 * _smooth_noise(rng, height, width, 80)
    return base * shade[..., None]


def _studio(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    return np.full((height, width, 3), 255 - rng.uniform(0, 10), dtype=np.float32)


TEXTURES: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "bed": _bed,
    "wood_floor": _wood_floor,
    "carpet": _carpet,
    "tiles": _tiles,
    "hanger": _wall,
    "studio": _studio,
}


# --------------------------------------------------------------------------- the photo


def studio_mask(image: Image.Image) -> np.ndarray:
    """Product mask in [0, 1]: everything except the near-white background connected to the border."""
    from scipy import ndimage

    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    white = (pixels.min(axis=2) > 232) & ((pixels.max(axis=2) - pixels.min(axis=2)) < 18)
    labels, _ = ndimage.label(white)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    background = np.isin(labels, border[border > 0])
    product = ~background
    product = ndimage.binary_opening(product, iterations=1)
    # The anti-aliased rim is a blend with the white background: drop it, or the cut-out has a halo.
    product = ndimage.binary_erosion(product, iterations=2)
    if product.mean() < 0.02:  # nothing found (e.g. a photo without white background): keep it all
        product = np.ones_like(product)
    soft = Image.fromarray((product * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    return np.asarray(soft, dtype=np.float32) / 255


def shopper_photo(image: Image.Image, *, scene: str, rng: np.random.Generator) -> Image.Image:
    """One studio product photo turned into a plausible phone photo of the item in `scene`."""
    image = image.convert("RGB")
    width, height = image.size
    if width == height:  # fashion-extra is stretched from 3:4 to a square; undo it
        image = image.resize((width, round(width * 4 / 3)), Image.Resampling.BICUBIC)
    mask = studio_mask(image)
    garment = np.asarray(image, dtype=np.float32)
    # Fabric lying on a surface is not flat: soft folds shade it.
    gh, gw = mask.shape
    folds = 1 + rng.uniform(0.04, 0.14) * _smooth_noise(rng, gh, gw, int(rng.uniform(25, 60)))
    garment = garment * folds[..., None]

    # The canvas: a phone photo, portrait mostly.
    portrait = rng.random() < 0.75
    canvas_w, canvas_h = (600, 800) if portrait else (800, 600)
    background = TEXTURES[scene](rng, canvas_h, canvas_w)

    # Place the product: scaled, rotated, somewhere near the middle, sometimes cut by the frame.
    scale = rng.uniform(0.55, 0.95) * min(canvas_h / gh, canvas_w / gw)
    angle = rng.normal(0, 10) if scene != "hanger" else rng.normal(0, 3)
    size = (max(8, round(gw * scale)), max(8, round(gh * scale)))
    rgba = Image.fromarray(np.dstack([np.clip(garment, 0, 255), mask * 255]).astype(np.uint8), "RGBA")
    rgba = rgba.resize(size, Image.Resampling.BICUBIC).rotate(
        angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0, 0)
    )
    left = int((canvas_w - rgba.width) / 2 + rng.normal(0, 0.08) * canvas_w)
    top = int((canvas_h - rgba.height) / 2 + rng.normal(0, 0.06) * canvas_h)
    alpha = np.zeros((canvas_h, canvas_w), np.float32)
    layer = np.zeros((canvas_h, canvas_w, 3), np.float32)
    _paste(layer, alpha, rgba, left, top)

    # A soft contact shadow below and to one side of the product.
    if scene != "studio":
        shadow = Image.fromarray((alpha * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(rng.uniform(6, 14)))
        dx, dy = rng.integers(-12, 13), rng.integers(2, 16)
        shadow = np.roll(np.asarray(shadow, np.float32) / 255, (dy, dx), axis=(0, 1))
        background = background * (1 - rng.uniform(0.2, 0.45) * shadow)[..., None]
    if scene == "hanger":
        _draw_hanger(background, left + rgba.width // 2, top, rng)
    photo = layer * alpha[..., None] + background * (1 - alpha[..., None])

    # Light: overall exposure, a gradient across the frame, a colour cast (white balance), vignette.
    y = np.linspace(-1, 1, canvas_h, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, canvas_w, dtype=np.float32)[None, :]
    direction = rng.uniform(0, 2 * np.pi)
    gradient = 1 + rng.uniform(0, 0.25) * (np.cos(direction) * x + np.sin(direction) * y) / 2
    vignette = 1 - rng.uniform(0, 0.3) * (x**2 + y**2) / 2
    exposure = rng.uniform(0.7, 1.1)
    cast = np.asarray([rng.uniform(0.9, 1.12), 1.0, rng.uniform(0.82, 1.08)], np.float32)
    photo = photo * (exposure * gradient * vignette)[..., None] * cast
    gamma = rng.uniform(0.85, 1.2)
    photo = 255 * (np.clip(photo, 0, 255) / 255) ** gamma
    result = Image.fromarray(photo.astype(np.uint8))

    # Camera: perspective (the phone is not parallel to the floor), a crop, blur, noise.
    strength = rng.uniform(0.0, 0.08)
    result = _perspective(result, rng, strength=strength)
    # The crop stays inside the warped frame: no empty corners.
    crop = rng.uniform(0.75, 1 - 2 * strength)
    cw, ch = int(canvas_w * crop), int(canvas_h * crop)
    mx, my = int(np.ceil(strength * canvas_w)), int(np.ceil(strength * canvas_h))
    cx = rng.integers(mx, max(mx, canvas_w - cw - mx) + 1)
    cy = rng.integers(my, max(my, canvas_h - ch - my) + 1)
    result = result.crop((cx, cy, cx + cw, cy + ch))
    if rng.random() < 0.6:
        result = result.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.6)))
    pixels = np.asarray(result, np.float32)
    pixels = pixels + rng.normal(0, rng.uniform(1.5, 7), pixels.shape).astype(np.float32)
    result = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    factor = OUTPUT_LONG_SIDE / max(result.size)
    result = result.resize((round(result.width * factor), round(result.height * factor)), Image.Resampling.BICUBIC)
    # JPEG at phone/messenger quality, decoded again so the artefacts are in the pixels.
    buffer = io.BytesIO()
    result.save(buffer, "JPEG", quality=int(rng.integers(55, 92)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _paste(layer: np.ndarray, alpha: np.ndarray, rgba: Image.Image, left: int, top: int) -> None:
    height, width = alpha.shape
    source = np.asarray(rgba, np.float32)
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(width, left + rgba.width), min(height, top + rgba.height)
    if x1 <= x0 or y1 <= y0:
        return
    part = source[y0 - top : y1 - top, x0 - left : x1 - left]
    layer[y0:y1, x0:x1] = part[..., :3]
    alpha[y0:y1, x0:x1] = part[..., 3] / 255


def _draw_hanger(background: np.ndarray, centre_x: int, top: int, rng: np.random.Generator) -> None:
    image = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    colour = tuple(int(v) for v in _colour(rng, [(60, 45, 35), (200, 200, 205), (30, 30, 30), (150, 110, 70)], 8))
    half = int(rng.uniform(80, 150))
    shoulder = top + 12
    draw.line([(centre_x - half, shoulder), (centre_x, shoulder - 35), (centre_x + half, shoulder)], colour, 6)
    draw.line([(centre_x, shoulder - 35), (centre_x, shoulder - 55)], colour, 4)
    draw.arc([centre_x - 14, shoulder - 80, centre_x + 14, shoulder - 50], 180, 20, colour, 4)
    background[...] = np.asarray(image, np.float32)


def _perspective(image: Image.Image, rng: np.random.Generator, *, strength: float) -> Image.Image:
    """Move the four corners by up to `strength` of the size and resample (edges filled by stretching)."""
    width, height = image.size
    source = np.asarray([(0, 0), (width, 0), (width, height), (0, height)], np.float64)
    target = source + rng.uniform(-strength, strength, (4, 2)) * [width, height]
    coefficients = _perspective_coefficients(target, source)
    return image.transform(image.size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC)


def _perspective_coefficients(target: np.ndarray, source: np.ndarray) -> tuple[float, ...]:
    """PIL's 8 coefficients mapping output pixels (target corners) to input pixels (source corners)."""
    matrix, vector = [], []
    for (x, y), (u, v) in zip(target, source, strict=True):
        matrix.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        matrix.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        vector += [u, v]
    return tuple(np.linalg.solve(np.asarray(matrix), np.asarray(vector)).tolist())


# --------------------------------------------------------------------------- the set


def label_map_build(labels: Sequence[str]) -> dict[str, list[str]]:
    """Each label matches its own articleType, and the types of its LABEL_GROUPS group."""
    result = {}
    for label in sorted(set(labels), key=str.lower):
        group = next((g for g in LABEL_GROUPS if label in g), (label,))
        result[label] = sorted(group, key=str.lower)
    return result


def photo_queries_build(
    *,
    dataset: Path,
    out: Path,
    count: int,
    seed: int,
    catalogue: Path | None = None,
    master_categories: Sequence[str] | None = DEFAULT_MASTER_CATEGORIES,
    min_catalogue_products: int = 5,
    split: str | None = None,
    on_image: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Write `count` shopper photos of held-out `dataset` products (not in `catalogue`) into `out`.

    Returns counts per scene. The same arguments give the same files, byte for byte.
    """
    if count < 1:
        raise PhotoQueryError("--count must be at least 1.")
    rows = styles_read(dataset)
    catalogue_rows = styles_read(catalogue) if catalogue is not None else []
    chosen = products_choose(
        rows,
        count=count,
        seed=seed,
        catalogue=catalogue_rows,
        master_categories=master_categories,
        min_catalogue_products=min_catalogue_products,
        split=split,
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scenes: Counter[str] = Counter()
    manifest = []
    for row in chosen:
        rng = np.random.default_rng([seed, row.id])
        scene = SCENES[rng.choice(len(SCENES), p=SCENE_WEIGHTS)]
        if scene == "hanger" and row.master_category != "Apparel":
            scene = "wood_floor"  # shoes and bags are not hung up
        with Image.open(Path(dataset) / "images" / f"{row.id}.jpg") as source:
            photo = shopper_photo(source, scene=scene, rng=rng)
        name = f"{row.id}.jpg"
        photo.save(out / name, "JPEG", quality=95)
        manifest.append((name, row.article_type, row.id, scene))
        scenes[scene] += 1
        if on_image is not None:
            on_image()
    with (out / "labels.csv").open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["file", "label"])
        writer.writerows((name, label) for name, label, _, _ in manifest)
    with (out / "manifest.csv").open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["file", "label", "source_id", "scene"])
        writer.writerows(manifest)
    label_map = label_map_build([label for _, label, _, _ in manifest])
    (out / "label_map.json").write_text(json.dumps(label_map, indent=2) + "\n", encoding="utf-8")
    return dict(scenes)
