"""A self-drawn demo catalogue in the Kaggle "Fashion Product Images" layout.

The storefront's demo must work offline, with nothing downloaded and no third-party
photos in the repository, so this module draws its own products with Pillow and writes
them exactly like the real dataset, for the same importer to read::

    ROOT/styles.csv          id,gender,masterCategory,subCategory,articleType,baseColour,
                             season,year,usage,productDisplayName
    ROOT/images/<id>.jpg     RGB JPEG, 3:4 portrait on a light studio background
    ROOT/styles/<id>.json    {"data": {"id": .., "price": .., "discountedPrice": .., ...}}

Every article type has its own recognisable silhouette (t-shirt, shirt, jeans, dress,
shoe, watch, ...) and products vary in colour, pattern, proportions, position and
lighting, so products of one type look alike without being identical. Output is
deterministic: the same seed gives byte-identical files.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from shop.catalog_files import COLUMNS

__all__ = [
    "COLOURS",
    "DEMO_CATEGORIES",
    "PATTERNS",
    "demo_stock",
    "draw_product",
    "generate_demo_catalog",
]


# masterCategory -> subCategory -> articleTypes, as in the real dataset.
DEMO_CATEGORIES: dict[str, dict[str, list[str]]] = {
    "Apparel": {
        "Topwear": ["Tshirts", "Shirts", "Tops", "Sweatshirts", "Jackets"],
        "Bottomwear": ["Jeans", "Trousers", "Shorts", "Skirts"],
        "Dress": ["Dresses"],
    },
    "Footwear": {
        "Shoes": ["Casual Shoes", "Sports Shoes", "Formal Shoes"],
        "Flip Flops": ["Flip Flops"],
        "Sandal": ["Sandals"],
    },
    "Accessories": {
        "Bags": ["Handbags", "Backpacks"],
        "Watches": ["Watches"],
        "Headwear": ["Caps"],
        "Belts": ["Belts"],
        "Eyewear": ["Sunglasses"],
    },
}

# baseColour vocabulary of the dataset, with the RGB the products are drawn in.
COLOURS: dict[str, tuple[int, int, int]] = {
    "Black": (30, 30, 32),
    "White": (248, 248, 246),
    "Blue": (42, 92, 188),
    "Navy Blue": (30, 42, 92),
    "Red": (200, 32, 42),
    "Green": (40, 140, 70),
    "Yellow": (246, 206, 42),
    "Grey": (128, 128, 132),
    "Brown": (116, 70, 40),
    "Pink": (238, 140, 176),
    "Purple": (110, 50, 140),
    "Orange": (245, 126, 32),
    "Maroon": (122, 22, 42),
    "Beige": (214, 190, 150),
    "Olive": (108, 114, 48),
    "Teal": (0, 128, 128),
    "Charcoal": (62, 64, 68),
    "Khaki": (190, 170, 110),
    "Cream": (240, 228, 190),
    "Silver": (176, 178, 184),
    "Gold": (200, 160, 62),
    "Steel": (138, 144, 152),
    "Magenta": (200, 30, 140),
    "Turquoise Blue": (40, 188, 200),
    "Lavender": (170, 140, 210),
    "Peach": (245, 180, 146),
    "Mustard": (214, 160, 30),
    "Rust": (180, 80, 40),
    "Sea Green": (46, 139, 87),
    "Off White": (240, 236, 224),
    "Tan": (200, 150, 100),
    "Coffee Brown": (88, 58, 44),
    "Lime Green": (140, 200, 50),
    "Burgundy": (112, 20, 46),
    "Mauve": (170, 110, 140),
}

# Pattern keys accepted by draw_product, with the dataset's "Pattern" attribute words.
PATTERNS: dict[str, str] = {
    "solid": "Solid",
    "stripes": "Striped",
    "checks": "Checked",
    "polka": "Polka Dots",
    "print": "Printed",
    "colourblock": "Colourblocked",
}
_PATTERN_ALIASES = {
    "striped": "stripes",
    "stripe": "stripes",
    "checked": "checks",
    "check": "checks",
    "polka dots": "polka",
    "polka dot": "polka",
    "dots": "polka",
    "printed": "print",
    "graphic": "print",
    "colour-block": "colourblock",
    "colourblocked": "colourblock",
    "color-block": "colourblock",
    "colorblock": "colourblock",
}

# Secondary colours for stripes, checks, dots, prints and colour blocks.
_ACCENTS = [
    "White",
    "Black",
    "Navy Blue",
    "Red",
    "Yellow",
    "Grey",
    "Blue",
    "Green",
    "Orange",
    "Pink",
    "Beige",
    "Maroon",
    "Teal",
    "Mustard",
]

_W_APPAREL = {
    "Black": 3,
    "White": 2,
    "Blue": 3,
    "Navy Blue": 3,
    "Red": 2,
    "Green": 2,
    "Yellow": 1,
    "Grey": 2,
    "Brown": 1,
    "Pink": 2,
    "Purple": 1,
    "Orange": 1,
    "Maroon": 2,
    "Beige": 1,
    "Olive": 1,
    "Teal": 1,
    "Charcoal": 1,
    "Mustard": 1,
    "Lavender": 1,
    "Peach": 1,
    "Turquoise Blue": 1,
    "Sea Green": 1,
    "Magenta": 1,
    "Off White": 0.5,
    "Cream": 0.5,
    "Lime Green": 0.5,
    "Rust": 0.5,
    "Burgundy": 0.5,
    "Mauve": 0.5,
}
_W_TROUSERS = {
    "Black": 3,
    "Navy Blue": 2,
    "Grey": 2,
    "Charcoal": 2,
    "Beige": 2,
    "Khaki": 2,
    "Brown": 1,
    "Olive": 1,
    "Cream": 1,
    "Blue": 1,
}

# Per article type: subCategory, genders, usages, colour weights, patterns, brands,
# price range in rupees, the noun used in names, and season bias.
_ARTICLES: dict[str, dict] = {
    "Tshirts": {
        "weight": 3,
        "genders": {"Men": 5, "Women": 3, "Boys": 1, "Girls": 1},
        "usages": {"Casual": 5, "Sports": 2},
        "colours": _W_APPAREL,
        "patterns": {"solid": 5, "stripes": 2, "print": 3, "colourblock": 1, "polka": 0.5},
        "brands": ["Roadster", "Puma", "Nike", "Adidas", "Flying Machine", "United Colors of Benetton", "Jockey"],
        "price": (399, 1999),
        "noun": "T-shirt",
        "comma": ["Pack of 2", "Regular Fit"],
    },
    "Shirts": {
        "weight": 2.5,
        "genders": {"Men": 6, "Women": 2, "Boys": 1},
        "usages": {"Casual": 4, "Formal": 4, "Party": 1},
        "colours": _W_APPAREL,
        "patterns": {"solid": 4, "stripes": 3, "checks": 3, "polka": 0.5, "print": 1},
        "brands": ["Peter England", "Van Heusen", "Allen Solly", "Arrow", "Louis Philippe", "Indian Terrain"],
        "price": (799, 2999),
        "noun": "Shirt",
        "comma": ["Slim Fit", "Full Sleeves"],
    },
    "Tops": {
        "weight": 1.5,
        "genders": {"Women": 5, "Girls": 1},
        "usages": {"Casual": 5, "Party": 2, "Ethnic": 1},
        "colours": _W_APPAREL,
        "patterns": {"solid": 4, "stripes": 2, "polka": 1.5, "print": 2, "colourblock": 1},
        "brands": ["Vero Moda", "ONLY", "Mango", "Jealous 21", "Kraus", "Miss Chase"],
        "price": (499, 1999),
        "noun": "Top",
        "comma": ["Sleeveless"],
    },
    "Sweatshirts": {
        "weight": 1,
        "genders": {"Men": 4, "Women": 2, "Unisex": 1},
        "usages": {"Casual": 4, "Sports": 2},
        "colours": _W_APPAREL,
        "patterns": {"solid": 5, "print": 2, "colourblock": 2, "stripes": 1},
        "brands": ["Puma", "Nike", "Adidas", "Reebok", "Roadster", "HRX"],
        "price": (999, 3499),
        "noun": "Sweatshirt",
        "seasons": {"Winter": 4, "Fall": 3, "Spring": 1},
        "comma": ["Hooded"],
    },
    "Jackets": {
        "weight": 1,
        "genders": {"Men": 4, "Women": 2},
        "usages": {"Casual": 5, "Sports": 1},
        "colours": {**_W_TROUSERS, "Red": 1, "Maroon": 1, "Olive": 2, "Mustard": 1},
        "patterns": {"solid": 6, "colourblock": 2, "checks": 1},
        "brands": ["Roadster", "Wildcraft", "Puma", "Fort Collins", "Monte Carlo", "Woodland"],
        "price": (1499, 6999),
        "noun": "Jacket",
        "seasons": {"Winter": 5, "Fall": 3},
        "comma": ["Padded"],
    },
    "Jeans": {
        "weight": 1.5,
        "genders": {"Men": 5, "Women": 3},
        "usages": {"Casual": 1},
        "colours": {"Blue": 5, "Navy Blue": 4, "Black": 3, "Grey": 2},
        "patterns": {"solid": 1},
        "brands": ["Levis", "Wrangler", "Lee", "Spykar", "Roadster", "Flying Machine", "Pepe Jeans"],
        "price": (999, 3999),
        "noun": "Jeans",
        "comma": ["Slim Fit", "Stretchable"],
    },
    "Trousers": {
        "weight": 1,
        "genders": {"Men": 4, "Women": 2},
        "usages": {"Formal": 3, "Casual": 3},
        "colours": _W_TROUSERS,
        "patterns": {"solid": 8, "checks": 1},
        "brands": ["Peter England", "Van Heusen", "Arrow", "Allen Solly", "Park Avenue", "Blackberrys"],
        "price": (899, 2999),
        "noun": "Trousers",
        "comma": ["Slim Fit", "Flat Front"],
    },
    "Shorts": {
        "weight": 1,
        "genders": {"Men": 4, "Women": 2, "Boys": 1},
        "usages": {"Casual": 3, "Sports": 2},
        "colours": {**_W_TROUSERS, "Red": 1, "Green": 1, "Blue": 2, "Teal": 1},
        "patterns": {"solid": 5, "checks": 2, "stripes": 1, "print": 1},
        "brands": ["Puma", "Nike", "Adidas", "Roadster", "Jack & Jones", "Wrangler"],
        "price": (499, 1499),
        "noun": "Shorts",
        "seasons": {"Summer": 5, "Spring": 2},
        "comma": ["Pack of 2"],
    },
    "Skirts": {
        "weight": 1,
        "genders": {"Women": 5, "Girls": 1},
        "usages": {"Casual": 4, "Party": 2},
        "colours": _W_APPAREL,
        "patterns": {"solid": 4, "print": 2, "polka": 1, "checks": 1, "stripes": 1},
        "brands": ["Vero Moda", "ONLY", "Mango", "Global Desi", "Biba", "Jealous 21"],
        "price": (599, 2499),
        "noun": "Skirt",
        "comma": ["Flared"],
    },
    "Dresses": {
        "weight": 1.5,
        "genders": {"Women": 5, "Girls": 1},
        "usages": {"Casual": 3, "Party": 3},
        "colours": _W_APPAREL,
        "patterns": {"solid": 4, "print": 2, "polka": 1, "stripes": 1, "colourblock": 1, "checks": 0.5},
        "brands": ["Vero Moda", "ONLY", "Mango", "Global Desi", "Miss Chase", "AND"],
        "price": (799, 3999),
        "noun": "Dress",
        "comma": ["Fit and Flare"],
    },
    "Casual Shoes": {
        "weight": 2,
        "genders": {"Men": 5, "Women": 3},
        "usages": {"Casual": 1},
        "colours": {
            "Black": 2,
            "White": 2,
            "Navy Blue": 2,
            "Blue": 1,
            "Brown": 2,
            "Tan": 1,
            "Grey": 2,
            "Red": 1,
            "Olive": 1,
            "Beige": 1,
        },
        "patterns": {"solid": 5, "colourblock": 2},
        "brands": ["Converse", "Vans", "Woodland", "Red Tape", "Roadster", "Puma", "Skechers"],
        "price": (1299, 4999),
        "noun": "Casual Shoes",
        "comma": ["Lace-Ups"],
    },
    "Sports Shoes": {
        "weight": 1.5,
        "genders": {"Men": 5, "Women": 3, "Unisex": 1},
        "usages": {"Sports": 1},
        "colours": {
            "Black": 3,
            "White": 2,
            "Blue": 2,
            "Navy Blue": 2,
            "Grey": 2,
            "Red": 2,
            "Orange": 1,
            "Lime Green": 1,
            "Teal": 1,
            "Pink": 1,
        },
        "patterns": {"solid": 5, "colourblock": 3},
        "brands": ["Nike", "Adidas", "Puma", "Reebok", "ASICS", "Fila", "Lotto"],
        "price": (1499, 7999),
        "noun": "Sports Shoes",
        "comma": ["Running"],
    },
    "Formal Shoes": {
        "weight": 1,
        "genders": {"Men": 1},
        "usages": {"Formal": 1},
        "colours": {"Black": 4, "Brown": 3, "Tan": 2, "Coffee Brown": 2, "Burgundy": 1},
        "patterns": {"solid": 1},
        "brands": ["Clarks", "Hush Puppies", "Red Tape", "Louis Philippe", "Bata", "Lee Cooper"],
        "price": (1499, 5999),
        "noun": "Formal Shoes",
        "comma": ["Leather"],
    },
    "Flip Flops": {
        "weight": 1,
        "genders": {"Men": 3, "Women": 3, "Unisex": 2},
        "usages": {"Casual": 1},
        "colours": {
            "Black": 2,
            "Blue": 2,
            "Navy Blue": 1,
            "Red": 1,
            "Yellow": 1,
            "Green": 1,
            "Pink": 1,
            "Grey": 1,
            "Orange": 1,
            "Turquoise Blue": 1,
        },
        "patterns": {"solid": 4, "print": 1, "stripes": 1},
        "brands": ["Havaianas", "Crocs", "Puma", "Adidas", "Flite", "Sparx"],
        "price": (199, 999),
        "noun": "Flip Flops",
        "seasons": {"Summer": 5, "Spring": 2},
        "comma": ["Pack of 1"],
    },
    "Sandals": {
        "weight": 1,
        "genders": {"Men": 3, "Women": 3},
        "usages": {"Casual": 4, "Ethnic": 1},
        "colours": {"Brown": 3, "Tan": 2, "Black": 2, "Beige": 1, "Gold": 1, "Coffee Brown": 1, "Olive": 1},
        "patterns": {"solid": 1},
        "brands": ["Bata", "Woodland", "Catwalk", "Clarks", "Mochi", "Metro"],
        "price": (499, 2499),
        "noun": "Sandals",
        "seasons": {"Summer": 4, "Spring": 2, "Fall": 1},
        "comma": ["Leather"],
    },
    "Handbags": {
        "weight": 1.5,
        "genders": {"Women": 1},
        "usages": {"Casual": 4, "Party": 2, "Formal": 1},
        "colours": {
            "Black": 3,
            "Brown": 3,
            "Tan": 2,
            "Red": 2,
            "Maroon": 1,
            "Beige": 2,
            "Pink": 1,
            "Navy Blue": 1,
            "Mustard": 1,
            "Olive": 1,
            "Cream": 1,
            "White": 1,
            "Purple": 1,
        },
        "patterns": {"solid": 6, "checks": 1, "print": 1, "colourblock": 1},
        "brands": ["Baggit", "Lavie", "Caprese", "Hidesign", "Da Milano", "Lino Perros"],
        "price": (699, 4999),
        "noun": "Handbag",
        "comma": ["Large"],
    },
    "Backpacks": {
        "weight": 1,
        "genders": {"Unisex": 4, "Men": 2},
        "usages": {"Casual": 4, "Sports": 1},
        "colours": {
            "Black": 3,
            "Navy Blue": 2,
            "Blue": 2,
            "Grey": 2,
            "Red": 1,
            "Olive": 1,
            "Green": 1,
            "Maroon": 1,
            "Teal": 1,
            "Orange": 1,
        },
        "patterns": {"solid": 5, "colourblock": 2, "print": 1, "checks": 0.5},
        "brands": ["Wildcraft", "American Tourister", "Skybags", "Puma", "Nike", "Fastrack"],
        "price": (799, 3999),
        "noun": "Backpack",
        "comma": ["30 L"],
    },
    "Watches": {
        "weight": 2,
        "genders": {"Men": 4, "Women": 3, "Unisex": 1},
        "usages": {"Casual": 4, "Formal": 2, "Sports": 1},
        "colours": {"Black": 4, "Brown": 3, "Silver": 3, "Gold": 2, "Steel": 2, "Blue": 1, "Red": 1, "Tan": 1},
        "patterns": {"solid": 1},
        "brands": ["Titan", "Fastrack", "Casio", "Timex", "Q&Q", "Giordano", "Maxima"],
        "price": (995, 14995),
        "noun": "Analog Watch",
        "comma": ["Water Resistant"],
    },
    "Caps": {
        "weight": 1,
        "genders": {"Unisex": 3, "Men": 2},
        "usages": {"Casual": 3, "Sports": 2},
        "colours": {
            "Black": 2,
            "Navy Blue": 2,
            "Red": 2,
            "Blue": 1,
            "Grey": 1,
            "White": 1,
            "Olive": 1,
            "Green": 1,
            "Beige": 1,
            "Yellow": 1,
        },
        "patterns": {"solid": 5, "colourblock": 2, "checks": 1, "print": 1},
        "brands": ["Puma", "Nike", "Adidas", "Wildcraft", "Fastrack", "Reebok"],
        "price": (299, 999),
        "noun": "Cap",
        "comma": ["Adjustable"],
    },
    "Belts": {
        "weight": 1,
        "genders": {"Men": 4, "Women": 1},
        "usages": {"Casual": 3, "Formal": 3},
        "colours": {"Black": 4, "Brown": 4, "Tan": 2, "Coffee Brown": 2, "Navy Blue": 1, "Maroon": 1},
        "patterns": {"solid": 1},
        "brands": ["Louis Philippe", "Van Heusen", "Peter England", "Lino Perros", "Woodland", "Fastrack"],
        "price": (399, 1999),
        "noun": "Belt",
        "comma": ["Reversible"],
    },
    "Sunglasses": {
        "weight": 1,
        "genders": {"Men": 3, "Women": 2, "Unisex": 2},
        "usages": {"Casual": 1},
        "colours": {"Black": 4, "Brown": 2, "Grey": 2, "Blue": 1, "Green": 1, "Purple": 1, "Red": 1},
        "patterns": {"solid": 1},
        "brands": ["Ray-Ban", "Fastrack", "Oakley", "Polaroid", "Vincent Chase", "IDEE"],
        "price": (599, 4999),
        "noun": "Sunglasses",
        "seasons": {"Summer": 4, "Spring": 2, "Fall": 1},
        "comma": ["UV Protected"],
    },
}

_SEASONS = {"Summer": 3, "Winter": 2, "Fall": 3, "Spring": 2}
_YEARS = {2011: 2, 2012: 4, 2013: 3, 2014: 2, 2015: 3, 2016: 3, 2017: 2, 2018: 1}
_AGE_GROUPS = {
    "Men": "Adults-Men",
    "Women": "Adults-Women",
    "Boys": "Kids-Boys",
    "Girls": "Kids-Girls",
    "Unisex": "Adults-Unisex",
}

Point = tuple[float, float]
RGB = tuple[int, int, int]


# --------------------------------------------------------------------------- geometry


def _quad(p0: Point, c: Point, p1: Point, n: int = 10) -> list[Point]:
    """Points of a quadratic Bezier curve from p0 (excluded) to p1 (included)."""
    out = []
    for i in range(1, n + 1):
        t = i / n
        a, b, d = (1 - t) ** 2, 2 * (1 - t) * t, t * t
        out.append((a * p0[0] + b * c[0] + d * p1[0], a * p0[1] + b * c[1] + d * p1[1]))
    return out


def _chaikin(pts: Sequence[Point], iterations: int = 2, cut: float = 0.25, closed: bool = True) -> list[Point]:
    """Round the corners of a polygon (closed) or polyline by corner cutting."""
    pts = list(pts)
    for _ in range(iterations):
        out: list[Point] = [] if closed else [pts[0]]
        n = len(pts)
        for i in range(n if closed else n - 1):
            (x0, y0), (x1, y1) = pts[i], pts[(i + 1) % n]
            out.append((x0 + (x1 - x0) * cut, y0 + (y1 - y0) * cut))
            out.append((x0 + (x1 - x0) * (1 - cut), y0 + (y1 - y0) * (1 - cut)))
        if not closed:
            out.append(pts[-1])
        pts = out
    return pts


def _ellipse_pts(cx: float, cy: float, rx: float, ry: float, a0: float = 0, a1: float = 360, n: int = 40):
    out = []
    for i in range(n + 1):
        a = math.radians(a0 + (a1 - a0) * i / n)
        out.append((cx + rx * math.cos(a), cy + ry * math.sin(a)))
    return out


def _mirror(pts: Sequence[Point]) -> list[Point]:
    """The left-hand counterpart of right-hand points, in reverse order."""
    return [(-x, y) for x, y in reversed(pts)]


def _shade(rgb: Sequence[int], factor: float) -> RGB:
    return tuple(max(0, min(255, round(c * factor))) for c in rgb[:3])  # type: ignore[return-value]


def _mix(a: Sequence[int], b: Sequence[int], t: float) -> RGB:
    return tuple(round(a[i] + (b[i] - a[i]) * t) for i in range(3))  # type: ignore[return-value]


def _luma(rgb: Sequence[int]) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _edge(rgb: Sequence[int]) -> RGB:
    """A seam/outline colour for a part: darker, or lighter for very dark parts."""
    if _luma(rgb) < 50:
        return _mix(rgb, (120, 120, 124), 0.45)
    return _shade(rgb, 0.62)


def _dist(a: Sequence[int], b: Sequence[int]) -> float:
    return math.sqrt(sum((a[i] - b[i]) ** 2 for i in range(3)))


_METALS = {"silver": (192, 194, 200), "gold": (212, 175, 80), "gunmetal": (90, 92, 98)}

_FONT_CACHE: dict[int, ImageFont.ImageFont | ImageFont.FreeTypeFont] = {}


def _font(size: int):
    if size not in _FONT_CACHE:
        try:
            _FONT_CACHE[size] = ImageFont.load_default(size=size)
        except Exception:  # pragma: no cover - Pillow without FreeType
            _FONT_CACHE[size] = ImageFont.load_default()
    return _FONT_CACHE[size]


# --------------------------------------------------------------------------- canvas


class _Canvas:
    """A 2x-resolution drawing surface with product coordinates.

    Product coordinates are in units of the drawing's nominal width: (0, 0) is the
    product's centre, x grows right and y grows down. Every point goes through pt(),
    which applies this product's scale, offset, mirroring and slight rotation, so all
    parts and patterns move together.
    """

    def __init__(self, size: tuple[int, int], base: RGB, pattern: str, secondary: RGB, rng: random.Random):
        self.rng = rng
        self.W, self.H = size[0] * 2, size[1] * 2
        self.base = base
        self.pattern = pattern
        self.secondary = secondary
        self.unit = min(self.W, self.H * 0.75) * rng.uniform(0.84, 0.96)
        self.cx = self.W / 2 + rng.uniform(-0.03, 0.03) * self.unit
        self.cy = self.H / 2 + rng.uniform(-0.03, 0.03) * self.unit
        angle = math.radians(rng.uniform(-4.0, 4.0))
        self.cos, self.sin = math.cos(angle), math.sin(angle)
        self.flip = 1
        self.block: list[Point] | None = None  # colour-block region, product coordinates
        self.stripes_vertical = rng.random() < 0.25
        self.rgb = Image.new("RGB", (self.W, self.H), _edge(base))
        self.alpha = Image.new("L", (self.W, self.H), 0)
        self.fabric = Image.new("L", (self.W, self.H), 0)
        self._d = ImageDraw.Draw(self.rgb, "RGBA")
        self._a = ImageDraw.Draw(self.alpha)
        self._f = ImageDraw.Draw(self.fabric)
        self._outlines: list[tuple[list[tuple[float, float]], bool]] = []
        self._fill: Image.Image | None = None
        self._dirty = False

    # coordinates
    def pt(self, x: float, y: float) -> tuple[float, float]:
        x *= self.flip
        return (
            self.cx + (x * self.cos - y * self.sin) * self.unit,
            self.cy + (x * self.sin + y * self.cos) * self.unit,
        )

    def P(self, pts: Sequence[Point]) -> list[tuple[float, float]]:
        return [self.pt(x, y) for x, y in pts]

    def s(self, v: float) -> float:
        return max(1.0, v * self.unit)

    # plain parts (own colour, no pattern)
    def poly(self, pts: Sequence[Point], fill, outline=None, width: float = 0.0) -> None:
        xy = self.P(pts)
        self._d.polygon(xy, fill=fill)
        if len(fill) == 3 or fill[3] == 255:
            self._a.polygon(xy, fill=255)
        if outline is not None and width:
            self._line_px(xy + [xy[0]], outline, self.s(width))

    def line(self, pts: Sequence[Point], fill, width: float, opaque: bool | None = None) -> None:
        self._line_px(self.P(pts), fill, self.s(width), opaque)

    def _line_px(self, xy, fill, w: float, opaque: bool | None = None) -> None:
        w = max(1, round(w))
        self._d.line(xy, fill=fill, width=w, joint="curve")
        if opaque is None:
            opaque = len(fill) == 3 or fill[3] == 255
        if opaque:
            self._a.line(xy, fill=255, width=w, joint="curve")
            if w > 3:
                r = w / 2
                for x, y in (xy[0], xy[-1]):
                    self._a.ellipse((x - r, y - r, x + r, y + r), fill=255)
        if w > 3:  # round caps
            r = w / 2
            for x, y in (xy[0], xy[-1]):
                self._d.ellipse((x - r, y - r, x + r, y + r), fill=fill)

    def circle(self, x: float, y: float, r: float, fill=None, outline=None, width: float = 0.0) -> None:
        px, py = self.pt(x, y)
        rr = r * self.unit
        box = (px - rr, py - rr, px + rr, py + rr)
        w = max(1, round(self.s(width))) if width else 0
        self._d.ellipse(box, fill=fill, outline=outline, width=w)
        if (fill is not None and (len(fill) == 3 or fill[3] == 255)) or (outline is not None and w):
            self._a.ellipse(box, fill=255 if fill is not None else None, outline=255 if w else None, width=w)

    def stitch(self, pts: Sequence[Point], fill, width: float = 0.006, dash: float = 0.018) -> None:
        """A dashed stitching line along a polyline."""
        xy = self.P(pts)
        on, left, w = True, dash * self.unit, max(1, round(self.s(width)))
        seg = [xy[0]]
        for (x0, y0), (x1, y1) in zip(xy, xy[1:], strict=False):
            length = math.hypot(x1 - x0, y1 - y0)
            pos = 0.0
            while length - pos > left:
                pos += left
                t = pos / length
                p = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t)
                seg.append(p)
                if on:
                    self._d.line(seg, fill=fill, width=w)
                seg = [p]
                on = not on
                left = dash * self.unit
            left -= length - pos
            seg.append((x1, y1))
        if on and len(seg) > 1:
            self._d.line(seg, fill=fill, width=w)

    def fold(self, pts: Sequence[Point], width: float = 0.02, strength: int = 26) -> None:
        """A soft shading stroke (blended, never widens the silhouette)."""
        self._soft_stroke(pts, width, (0, 0, 0), strength)

    def highlight(self, pts: Sequence[Point], width: float = 0.02, strength: int = 40) -> None:
        self._soft_stroke(pts, width, (255, 255, 255), strength)

    def _soft_stroke(self, pts: Sequence[Point], width: float, rgb: RGB, strength: int) -> None:
        """Tapered, lens-shaped shading along a path, softened by nesting three of them."""
        if len(pts) == 2:  # bow straight strokes a little, like cloth
            (x0, y0), (x1, y1) = pts
            bend = 0.12 if (x0 + x1) * self.flip >= 0 else -0.12
            pts = [
                pts[0],
                *_quad(pts[0], ((x0 + x1) / 2 - (y1 - y0) * bend, (y0 + y1) / 2 + (x1 - x0) * bend), pts[1], 8),
            ]
        n = len(pts)
        normals = []
        for k in range(n):
            (ax, ay), (bx, by) = pts[max(0, k - 1)], pts[min(n - 1, k + 1)]
            length = math.hypot(bx - ax, by - ay) or 1.0
            normals.append((-(by - ay) / length, (bx - ax) / length))
        for share in (1.0, 0.62, 0.3):
            half = [width * share / 2 * math.sin(math.pi * k / (n - 1)) for k in range(n)]
            left = [(x + nx * h, y + ny * h) for (x, y), (nx, ny), h in zip(pts, normals, half, strict=True)]
            right = [(x - nx * h, y - ny * h) for (x, y), (nx, ny), h in zip(pts, normals, half, strict=True)]
            self._d.polygon(self.P(left + right[::-1]), fill=(*rgb, max(1, round(strength * 0.45))))

    # fabric (patterned) parts
    def fabric_poly(self, pts: Sequence[Point], outline: bool = True) -> None:
        xy = self.P(pts)
        if self.pattern == "solid":  # no pattern: paint straight onto the layer
            self._d.polygon(xy, fill=self.base)
            self._a.polygon(xy, fill=255)
        else:
            self._f.polygon(xy, fill=255)
            self._dirty = True
        if outline:
            self._outlines.append((xy, True))

    def commit(self, outline_width: float = 0.007) -> None:
        """Paint the fabric parts drawn so far with the product's colour and pattern."""
        box = self.fabric.getbbox() if self._dirty else None
        if box:
            if self._fill is None:
                self._fill = self._make_fill()
            mask = self.fabric.crop(box)
            self.rgb.paste(self._fill.crop(box), box, mask)
            self.alpha.paste(255, box, mask)
        edge = _edge(self.base)
        for xy, closed in self._outlines:
            self._line_px(xy + [xy[0]] if closed else xy, edge, self.s(outline_width))
        self._outlines.clear()
        if self._dirty:
            self._f.rectangle((0, 0, self.W, self.H), fill=0)
            self._dirty = False

    def _make_fill(self) -> Image.Image:
        img = Image.new("RGB", (self.W, self.H), self.base)
        d = ImageDraw.Draw(img, "RGBA")
        rng, sec, p = self.rng, self.secondary, self.pattern

        # the visible canvas in product coordinates, with room for offset and rotation
        X = self.W / 2 / self.unit + 0.12
        Y = self.H / 2 / self.unit + 0.12

        def rect(x0, y0, x1, y1, fill):
            d.polygon(self.P([(x0, y0), (x1, y0), (x1, y1), (x0, y1)]), fill=fill)

        if p == "stripes":
            period = rng.uniform(0.05, 0.1)
            width = period * rng.uniform(0.2, 0.32)
            thin = rng.random() < 0.35
            third = _mix(sec, self.base, 0.5)
            k = -(X if self.stripes_vertical else Y)
            while k < (X if self.stripes_vertical else Y):
                if self.stripes_vertical:
                    rect(k, -Y, k + width, Y, sec)
                    if thin:
                        rect(k + period * 0.6, -Y, k + period * 0.6 + 0.006, Y, third)
                else:
                    rect(-X, k, X, k + width, sec)
                    if thin:
                        rect(-X, k + period * 0.6, X, k + period * 0.6 + 0.006, third)
                k += period
        elif p == "checks":
            period = rng.uniform(0.06, 0.11)
            band = period * rng.uniform(0.12, 0.2)
            fill = (*sec, 125)
            k = -Y
            while k < Y:
                rect(-X, k, X, k + band, fill)
                if k < X:
                    rect(k, -Y, k + band, Y, fill)
                k += period
            line = (*_mix(sec, (255, 255, 255), 0.3), 150)
            k = -Y + period / 2
            while k < Y:
                rect(-X, k, X, k + 0.005, line)
                if k < X:
                    rect(k, -Y, k + 0.005, Y, line)
                k += period
        elif p == "polka":
            period = rng.uniform(0.055, 0.09)
            r = period * rng.uniform(0.16, 0.23) * self.unit
            row = 0
            y = -Y
            while y < Y:
                x = -X + (period / 2 if row % 2 else 0)
                while x < X:
                    px, py = self.pt(x, y)
                    d.ellipse((px - r, py - r, px + r, py + r), fill=sec)
                    x += period
                y += period * 0.87
                row += 1
        elif p == "print":
            period = rng.uniform(0.09, 0.14)
            size = period * 0.22
            third = COLOURS[rng.choice(["White", "Yellow", "Pink", "Green", "Orange", "Beige"])]
            motif = rng.choice(["flower", "leaf", "triangle"])
            y = -Y
            while y < Y:
                x = -X
                while x < X:
                    mx, my = x + rng.uniform(-0.3, 0.3) * period, y + rng.uniform(-0.3, 0.3) * period
                    rot = rng.uniform(0, math.tau)
                    if motif == "flower":
                        for k in range(5):
                            a = rot + k * math.tau / 5
                            cx, cy = self.pt(mx + math.cos(a) * size * 0.6, my + math.sin(a) * size * 0.6)
                            rr = size * 0.45 * self.unit
                            d.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=sec)
                        cx, cy = self.pt(mx, my)
                        rr = size * 0.3 * self.unit
                        d.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=third)
                    elif motif == "leaf":
                        ca, sa = math.cos(rot), math.sin(rot)
                        pts = [(-1, 0), (0, -0.45), (1, 0), (0, 0.45)]
                        pts = [(mx + (u * ca - v * sa) * size, my + (u * sa + v * ca) * size) for u, v in pts]
                        d.polygon(self.P(_chaikin(pts, 2)), fill=sec)
                    else:
                        pts = [
                            (mx + math.cos(rot + k * math.tau / 3) * size, my + math.sin(rot + k * math.tau / 3) * size)
                            for k in range(3)
                        ]
                        d.polygon(self.P(pts), fill=sec if (round(x / period) + round(y / period)) % 2 else third)
                    x += period
                y += period
        elif p == "colourblock":
            region = self.block or [(-2, 0.15), (2, 0.15), (2, 2), (-2, 2)]
            d.polygon(self.P(region), fill=sec)
            edge = self.P([region[0], region[1]])
            d.line(edge, fill=_shade(sec, 0.7), width=max(1, round(self.s(0.006))))
        return img

    # finishing
    def render(self, out_size: tuple[int, int]) -> Image.Image:
        """Downsample the 2x layer (anti-aliasing), light it and put it on the background."""
        rng = self.rng
        w, h = out_size
        layer = self.rgb.reduce(2)
        alpha = self.alpha.reduce(2)
        # Lighting: a soft radial falloff centred up and to the left of the product.
        box = alpha.getbbox() or (0, 0, w, h)
        lx = (box[0] + box[2]) / 2 - (box[2] - box[0]) * rng.uniform(0.05, 0.2)
        ly = (box[1] + box[3]) / 2 - (box[3] - box[1]) * rng.uniform(0.05, 0.2)
        depth = rng.choice((0.08, 0.1, 0.12, 0.14))
        light = _light_map((w, h), depth).crop((round(w - lx), round(h - ly), round(2 * w - lx), round(2 * h - ly)))
        lit = ImageChops.multiply(layer, Image.merge("RGB", (light, light, light)))
        # Background: light studio sweep with a soft shadow of the product.
        bg = _backdrop((w, h), rng.choice((246, 248, 250, 252)), rng.choice((6, 10, 14)), rng.randrange(3))
        small = alpha.reduce(4).filter(ImageFilter.GaussianBlur(2.2))
        shadow = small.resize((w, h), Image.BILINEAR).point(_SHADOW_LUT)
        shadow = ImageChops.offset(shadow, round(self.unit * 0.006), round(self.unit * 0.011))
        bg = ImageChops.multiply(bg, Image.merge("RGB", (shadow, shadow, shadow)))
        bg.paste(lit, (0, 0), alpha)
        return bg


# alpha -> multiplier: full coverage darkens the backdrop by about a quarter
_SHADOW_LUT = [255 - round(v * 0.27) for v in range(256)]
_TINTS = [(0, 0, 0), (2, 1, -1), (-1, 0, 2)]


@functools.lru_cache(maxsize=32)
def _light_map(size: tuple[int, int], depth: float) -> Image.Image:
    """A (2w, 2h) radial falloff centred at (w, h); products crop a window of it."""
    w, h = size
    lut = [round(255 * (1 - depth * min(1.0, v / 180.0) ** 1.6)) for v in range(256)]
    radial = Image.radial_gradient("L").point(lut).resize((round(w * 1.3), round(h * 1.3)), Image.BILINEAR)
    light = Image.new("L", (2 * w, 2 * h), lut[255])
    light.paste(radial, (w - radial.width // 2, h - radial.height // 2))
    return light


@functools.lru_cache(maxsize=64)
def _backdrop_cached(size: tuple[int, int], top: int, drop: int, tint: int) -> Image.Image:
    w, h = size
    column = [top - drop * y / max(1, h - 1) for y in range(h)]
    bands = [
        Image.frombytes("L", (1, h), bytes(max(0, min(255, round(v + t))) for v in column)).resize(
            (w, h), Image.NEAREST
        )
        for t in _TINTS[tint]
    ]
    return Image.merge("RGB", bands)


def _backdrop(size: tuple[int, int], top: int, drop: int, tint: int) -> Image.Image:
    """A light studio sweep: a vertical gradient from `top` grey, `drop` levels darker at the bottom."""
    return _backdrop_cached(size, top, drop, tint).copy()


# --------------------------------------------------------------------------- apparel


def _neckline_inside(c: _Canvas, nw: float, y0: float, depth: float, vneck: bool) -> list[Point]:
    """Darker inside-back between the back and front necklines; returns the front curve."""
    back = [(-nw, y0), *_quad((-nw, y0), (0, y0 + 0.02), (nw, y0))]
    if vneck:
        front = [
            (nw, y0),
            (nw * 0.6, y0 + depth * 0.45),
            (0, y0 + depth * 1.6),
            (-nw * 0.6, y0 + depth * 0.45),
            (-nw, y0),
        ]
    else:
        front = [(nw, y0), *_quad((nw, y0), (0, y0 + depth * 2), (-nw, y0))]
    c.poly(back + front[1:], _shade(c.base, 0.62))
    return front


def _tshirt_like(c: _Canvas, *, long_sleeves: bool, length: float, bw: float) -> dict:
    r = c.rng
    y0 = -0.44 if long_sleeves else -0.42
    y1 = y0 + length
    nw = r.uniform(0.075, 0.095)
    sh = (bw + 0.03, y0 + 0.035)
    armpit = (bw, y0 + r.uniform(0.19, 0.22))
    if long_sleeves:
        ang = math.radians(r.uniform(62, 72))
        sl, sw = r.uniform(0.5, 0.56), r.uniform(0.1, 0.12)
    else:
        ang = math.radians(r.uniform(26, 40))
        sl, sw = r.uniform(0.13, 0.19), r.uniform(0.12, 0.14)
    dx, dy = math.cos(ang), math.sin(ang)
    st = (sh[0] + sl * dx, sh[1] + sl * dy)
    sb = (st[0] - sw * dy, st[1] + sw * dx)
    if long_sleeves:  # the sleeve's underside runs from the cuff up to the armpit
        armpit = (bw, y0 + 0.2)
    hem = (bw - r.uniform(0.0, 0.015), y1)
    right = [(nw, y0), sh, st, sb, armpit, hem]
    body = _mirror(right) + right
    body = _chaikin(body, 1, 0.08)
    c.fabric_poly(body)
    c.commit()
    return {"y0": y0, "y1": y1, "nw": nw, "sh": sh, "st": st, "sb": sb, "armpit": armpit, "hem": hem, "bw": bw}


def _sleeve_details(c: _Canvas, g: dict, cuff: float) -> None:
    edge = _edge(c.base)
    for m in (1, -1):
        sh, st, sb, ap = g["sh"], g["st"], g["sb"], g["armpit"]
        sh, st, sb, ap = (m * sh[0], sh[1]), (m * st[0], st[1]), (m * sb[0], sb[1]), (m * ap[0], ap[1])
        # armhole seam
        c.line(_quad(sh, (sh[0] - m * 0.02, (sh[1] + ap[1]) / 2), ap, 8), edge, 0.005)
        # cuff / sleeve hem
        ux, uy = st[0] - sh[0], st[1] - sh[1]
        n = math.hypot(ux, uy)
        ux, uy = ux / n * cuff, uy / n * cuff
        if cuff > 0.03:
            c.poly([st, sb, (sb[0] - ux, sb[1] - uy), (st[0] - ux, st[1] - uy)], _shade(c.base, 0.88), edge, 0.005)
            for k in range(1, 8):
                t = k / 8
                a = (st[0] + (sb[0] - st[0]) * t, st[1] + (sb[1] - st[1]) * t)
                c.line([a, (a[0] - ux, a[1] - uy)], (*edge, 90), 0.003, opaque=False)
        else:
            c.stitch([(st[0] - ux, st[1] - uy), (sb[0] - ux, sb[1] - uy)], edge)


def _chest_graphic(c: _Canvas, x: float, y: float, size: float) -> None:
    r = c.rng
    sec = c.secondary
    third = COLOURS[r.choice(["White", "Yellow", "Red", "Black", "Orange"])]
    if _dist(third, sec) < 80 or _dist(third, c.base) < 80:
        third = _mix(sec, c.base, 0.5)
    kind = r.choice(["badge", "star", "bands", "text", "text"])
    if kind == "badge":
        c.circle(x, y, size, fill=sec)
        c.circle(x, y, size * 0.78, outline=third, width=size * 0.08)
        c.poly([(x - size * 0.5, y + size * 0.15), (x, y - size * 0.45), (x + size * 0.5, y + size * 0.15)], third)
    elif kind == "star":
        pts = []
        for k in range(10):
            a = -math.pi / 2 + k * math.pi / 5
            rr = size * (1.0 if k % 2 == 0 else 0.45)
            pts.append((x + math.cos(a) * rr, y + math.sin(a) * rr))
        c.poly(pts, sec)
        c.circle(x, y, size * 0.2, fill=third)
    elif kind == "bands":
        for k, col in enumerate((sec, third, sec)):
            yy = y - size * 0.6 + k * size * 0.45
            c.poly(
                [
                    (x - size * 1.5, yy),
                    (x + size * 1.5, yy),
                    (x + size * 1.5, yy + size * 0.32),
                    (x - size * 1.5, yy + size * 0.32),
                ],
                col,
            )
    else:
        word = r.choice(["NYC", "1987", "SPORT", "RUN", "BOLD", "HERO", "GO", "23", "CITY", "WILD"])
        font = _font(max(8, round(size * 0.9 * c.unit)))
        px, py = c.pt(x, y)
        c._d.text(
            (px, py),
            word,
            fill=sec,
            font=font,
            anchor="mm",
            stroke_width=max(1, round(size * 0.05 * c.unit)),
            stroke_fill=third,
        )
        bbox = c._d.textbbox((px, py), word, font=font, anchor="mm")
        c._d.rectangle((bbox[0], bbox[3] + size * 0.2 * c.unit, bbox[2], bbox[3] + size * 0.32 * c.unit), fill=third)


def _draw_tshirt(c: _Canvas) -> list[str]:
    r = c.rng
    graphic = c.pattern == "print"
    if graphic:
        c.pattern = "solid"
    c.block = r.choice([[(-2, 0.12), (2, 0.12), (2, 2), (-2, 2)], [(-2, -2), (2, -2), (2, -0.2), (-2, -0.2)]])
    polo = r.random() < 0.25
    vneck = not polo and r.random() < 0.3
    g = _tshirt_like(c, long_sleeves=False, length=r.uniform(0.84, 0.92), bw=r.uniform(0.23, 0.28))
    edge = _edge(c.base)
    y0, nw = g["y0"], g["nw"]
    _sleeve_details(c, g, 0.0)
    c.stitch([(-g["hem"][0] + 0.01, g["y1"] - 0.03), (g["hem"][0] - 0.01, g["y1"] - 0.03)], edge)
    features = []
    if polo:
        front = _neckline_inside(c, nw, y0, 0.03, False)
        c.poly(
            [(-0.025, y0 + 0.06), (0.025, y0 + 0.06), (0.025, y0 + 0.2), (-0.025, y0 + 0.2)],
            _shade(c.base, 0.93),
            edge,
            0.004,
        )
        for k in range(2):
            c.circle(0, y0 + 0.1 + k * 0.06, 0.009, fill=(235, 235, 230), outline=edge, width=0.003)
        for m in (1, -1):
            c.poly(
                [
                    (m * nw * 1.1, y0 - 0.02),
                    (m * 0.005, y0 + 0.06),
                    (m * nw * 1.5, y0 + 0.11),
                    (m * nw * 1.6, y0 + 0.02),
                ],
                _shade(c.base, 0.97),
                edge,
                0.005,
            )
        features += ["a polo collar", "short sleeves", "a button placket"]
    else:
        depth = r.uniform(0.035, 0.05)
        front = _neckline_inside(c, nw, y0, depth, vneck)
        c.line(front, _shade(c.base, 0.85), 0.022)
        c.line(front, edge, 0.004)
        features += ["a V-neck" if vneck else "a round neck", "short sleeves"]
    c.fold([(-g["bw"] * 0.6, 0.25), (-g["bw"] * 0.2, 0.38)], 0.03)
    c.fold([(g["bw"] * 0.7, -0.05), (g["bw"] * 0.35, 0.1)], 0.025)
    if graphic:
        _chest_graphic(c, 0, -0.1 if not polo else -0.08, r.uniform(0.09, 0.13))
        features.append("a graphic print on the front")
    return features


def _draw_shirt(c: _Canvas) -> list[str]:
    r = c.rng
    long_sleeves = r.random() < 0.7
    c.block = [(-2, -2), (2, -2), (2, -0.22), (-2, -0.22)]
    bw = r.uniform(0.23, 0.27)
    if long_sleeves:
        g = _tshirt_like(c, long_sleeves=True, length=r.uniform(0.92, 1.0), bw=bw)
    else:
        g = _tshirt_like(c, long_sleeves=False, length=r.uniform(0.9, 0.98), bw=bw)
    edge = _edge(c.base)
    y0, y1, nw = g["y0"], g["y1"], g["nw"]
    _sleeve_details(c, g, 0.06 if long_sleeves else 0.0)
    # the curved shirttail hem is suggested by its stitching
    c.stitch(_quad((-g["hem"][0] + 0.01, y1 - 0.03), (0, y1 - 0.06), (g["hem"][0] - 0.01, y1 - 0.03), 10), edge)
    # collar
    _neckline_inside(c, nw, y0, 0.03, False)
    c.poly(
        [(-nw, y0 + 0.005), (-nw * 0.9, y0 - 0.035), (nw * 0.9, y0 - 0.035), (nw, y0 + 0.005)],
        _shade(c.base, 0.8),
        edge,
        0.004,
    )
    c.commit()
    spread = r.uniform(0.09, 0.13)
    for m in (1, -1):
        c.fabric_poly(
            [
                (m * (nw + 0.012), y0 - 0.03),
                (m * 0.004, y0 + 0.06),
                (m * spread, y0 + 0.1),
                (m * (nw + 0.03), y0 + 0.01),
            ]
        )
    c.commit(0.005)
    # placket and buttons
    c.line([(0.02, y0 + 0.06), (0.02, y1 - 0.02)], edge, 0.004)
    c.line([(-0.02, y0 + 0.06), (-0.02, y1 - 0.02)], (*edge, 120), 0.003, opaque=False)
    button = (236, 234, 228) if _luma(c.base) < 150 else _shade(c.base, 0.55)
    yb = y0 + 0.09
    while yb < y1 - 0.04:
        c.circle(0, yb, 0.011, fill=button, outline=edge, width=0.003)
        yb += 0.11
    pocket = r.random() < 0.6
    if pocket:
        px = -0.13
        c.poly(
            [(px - 0.065, -0.26), (px + 0.065, -0.26), (px + 0.065, -0.15), (px, -0.13), (px - 0.065, -0.15)],
            (0, 0, 0, 0),
            edge,
            0.004,
        )
    c.fold([(0.1, -0.05), (0.16, 0.25)], 0.03)
    features = [
        "a spread collar",
        "long sleeves" if long_sleeves else "short sleeves",
        "a button placket",
        "a curved hem",
    ]
    if pocket:
        features.append("a patch pocket")
    return features


def _draw_top(c: _Canvas) -> list[str]:
    r = c.rng
    y0, y1 = -0.42, r.uniform(0.3, 0.42)
    c.block = r.choice([[(-2, 0.05), (2, 0.05), (2, 2), (-2, 2)], [(-2, -2), (2, -2), (2, -0.18), (-2, -0.18)]])
    style = r.choice(["straps", "cap", "flutter", "three_quarter"])
    so, si = r.uniform(0.15, 0.18), r.uniform(0.07, 0.1)  # shoulder outer/inner x
    ap = (0.2, -0.2)
    waist = (r.uniform(0.16, 0.19), 0.02)
    hem = (r.uniform(0.24, 0.3), y1)
    if style == "straps":
        so, si = 0.13, 0.105
        right = [(si, y0), (so, y0), (0.19, -0.28), ap, waist, hem]
        feats = ["shoulder straps", "a scoop neck"]
    elif style == "cap":
        right = [(si, y0), (so + 0.03, y0 + 0.02), (so + 0.11, y0 + 0.12), (ap[0] + 0.02, ap[1] + 0.02), waist, hem]
        feats = ["cap sleeves", "a round neck"]
    elif style == "flutter":
        right = [(si, y0), (so + 0.03, y0 + 0.02), (so + 0.16, y0 + 0.18), (so + 0.08, y0 + 0.24), ap, waist, hem]
        feats = ["flutter sleeves", "a round neck"]
    else:
        right = [
            (si, y0),
            (so + 0.03, y0 + 0.02),
            (so + 0.2, y0 + 0.36),
            (so + 0.12, y0 + 0.4),
            (ap[0] + 0.01, ap[1] + 0.03),
            waist,
            hem,
        ]
        feats = ["three-quarter sleeves", "a round neck"]
    pts = _mirror(right) + right
    c.fabric_poly(_chaikin(pts, 2, 0.12))
    c.commit()
    edge = _edge(c.base)
    depth = 0.1 if style == "straps" else r.uniform(0.04, 0.06)
    front = _neckline_inside(c, si, y0, depth, False)
    c.line(front, edge, 0.005)
    c.stitch(_quad((-hem[0] + 0.015, y1 - 0.025), (0, y1 - 0.02), (hem[0] - 0.015, y1 - 0.025)), edge)
    if r.random() < 0.4:  # gathered waist seam
        c.line(_quad((-waist[0], waist[1]), (0, waist[1] + 0.015), (waist[0], waist[1])), edge, 0.004)
        for k in range(-4, 5):
            c.fold([(k * 0.05, waist[1] + 0.02), (k * 0.065, y1 - 0.03)], 0.012, 22)
        feats.append("a gathered waist")
    c.fold([(-0.1, -0.1), (-0.05, 0.1)], 0.03)
    return feats


def _draw_sweatshirt(c: _Canvas) -> list[str]:
    r = c.rng
    graphic = c.pattern == "print"
    if graphic:
        c.pattern = "solid"
    c.block = r.choice([[(-2, -2), (2, -2), (2, -0.18), (-2, -0.18)], [(-2, 0.0), (2, 0.0), (2, 0.18), (-2, 0.18)]])
    hooded = r.random() < 0.45
    bw = r.uniform(0.25, 0.29)
    y0 = -0.44
    if hooded:  # hood behind the shoulders, drawn first
        c.poly(
            _chaikin(
                [
                    (-0.2, y0 + 0.04),
                    (-0.19, y0 - 0.1),
                    (-0.08, y0 - 0.16),
                    (0.08, y0 - 0.16),
                    (0.19, y0 - 0.1),
                    (0.2, y0 + 0.04),
                ],
                2,
            ),
            _shade(c.base, 0.8),
            _edge(c.base),
            0.006,
        )
    g = _tshirt_like(c, long_sleeves=True, length=r.uniform(0.86, 0.94), bw=bw)
    edge = _edge(c.base)
    y1, nw = g["y1"], g["nw"]
    _sleeve_details(c, g, 0.055)
    band = _shade(c.base, 0.88)
    hx = g["hem"][0]
    c.poly([(-hx, y1 - 0.07), (hx, y1 - 0.07), (hx, y1), (-hx, y1)], band, edge, 0.005)
    for k in range(1, 30):
        x = -hx + 2 * hx * k / 30
        c.line([(x, y1 - 0.065), (x, y1 - 0.005)], (*edge, 80), 0.003, opaque=False)
    feats = ["long sleeves", "ribbed cuffs and hem"]
    if hooded:
        _neckline_inside(c, nw, y0, 0.07, True)
        for m in (1, -1):
            c.line([(m * 0.03, y0 + 0.08), (m * 0.035, y0 + 0.25)], (240, 240, 236), 0.008)
        c.poly(_chaikin([(-0.15, 0.02), (0.15, 0.02), (0.19, 0.22), (-0.19, 0.22)], 1, 0.1), (0, 0, 0, 0), edge, 0.005)
        feats += ["a hood", "a kangaroo pocket"]
    else:
        front = _neckline_inside(c, nw, y0, 0.04, False)
        c.line(front, _shade(c.base, 0.85), 0.026)
        c.line(front, edge, 0.004)
        feats.append("a round neck")
    c.fold([(-0.15, -0.2), (-0.08, 0.0)], 0.03)
    if graphic:
        _chest_graphic(c, 0, -0.17 if hooded else -0.12, r.uniform(0.09, 0.12))
        feats.append("a graphic print")
    return feats


def _draw_jacket(c: _Canvas) -> list[str]:
    r = c.rng
    c.block = [(-2, -2), (2, -2), (2, -0.2), (-2, -0.2)]
    hooded = r.random() < 0.35
    y0 = -0.44
    edge = _edge(c.base)
    if hooded:
        c.poly(
            _chaikin(
                [
                    (-0.21, y0 + 0.04),
                    (-0.2, y0 - 0.1),
                    (-0.09, y0 - 0.17),
                    (0.09, y0 - 0.17),
                    (0.2, y0 - 0.1),
                    (0.21, y0 + 0.04),
                ],
                2,
            ),
            _shade(c.base, 0.8),
            edge,
            0.006,
        )
    g = _tshirt_like(c, long_sleeves=True, length=r.uniform(0.84, 0.92), bw=r.uniform(0.26, 0.3))
    y1, nw = g["y1"], g["nw"]
    _sleeve_details(c, g, 0.05)
    hx = g["hem"][0]
    c.poly([(-hx, y1 - 0.06), (hx, y1 - 0.06), (hx, y1), (-hx, y1)], _shade(c.base, 0.9), edge, 0.005)
    _neckline_inside(c, nw, y0, 0.025, False)
    if not hooded:  # stand collar
        c.poly(
            [(-nw - 0.01, y0 + 0.02), (-nw - 0.005, y0 - 0.05), (nw + 0.005, y0 - 0.05), (nw + 0.01, y0 + 0.02)],
            _shade(c.base, 0.9),
            edge,
            0.005,
        )
    zip_col = _METALS[r.choice(["silver", "gunmetal"])]
    c.line([(0, y0 + 0.02), (0, y1)], _shade(c.base, 0.5), 0.014)
    c.line([(0, y0 + 0.02), (0, y1)], zip_col, 0.005)
    c.poly([(-0.012, y0 + 0.05), (0.012, y0 + 0.05), (0.009, y0 + 0.11), (-0.009, y0 + 0.11)], zip_col, edge, 0.003)
    for m in (1, -1):
        c.line([(m * 0.1, 0.06), (m * 0.17, 0.22)], edge, 0.008)
        c.stitch([(m * 0.04, y0 + 0.06), (m * 0.04, y1 - 0.07)], edge)
    if r.random() < 0.5:  # quilting for a padded look
        for k in range(1, 7):
            y = y0 + (y1 - y0) * k / 7
            c.stitch([(-hx, y), (hx, y)], edge, 0.004, 0.014)
    c.fold([(-0.12, -0.1), (-0.05, 0.15)], 0.035)
    feats = ["long sleeves", "a full-length zip", "two pockets"]
    feats.insert(0, "a hood" if hooded else "a stand collar")
    return feats


def _draw_legwear(c: _Canvas, kind: str) -> list[str]:
    r = c.rng
    edge = _edge(c.base)
    if kind == "shorts":
        y0, y1 = -0.34, r.uniform(0.24, 0.32)
        ww, hip = r.uniform(0.2, 0.23), r.uniform(0.25, 0.27)
        ho, hi = hip + r.uniform(0.02, 0.05), r.uniform(0.01, 0.03)
        crotch = y0 + 0.34
    else:
        y0, y1 = -0.56, r.uniform(0.54, 0.6)
        ww, hip = r.uniform(0.17, 0.2), r.uniform(0.21, 0.23)
        fit = (
            r.choice(["skinny", "slim", "straight", "wide"])
            if kind == "jeans"
            else r.choice(["slim", "straight", "wide"])
        )
        ho, hi = {"skinny": (0.15, 0.06), "slim": (0.17, 0.045), "straight": (0.2, 0.03), "wide": (0.25, 0.01)}[fit]
        crotch = y0 + 0.34
    pts = [
        (-ww, y0),
        (-hip, y0 + 0.2),
        (-ho, y1),
        (-hi, y1),
        (0, crotch),
        (hi, y1),
        (ho, y1),
        (hip, y0 + 0.2),
        (ww, y0),
    ]
    c.fabric_poly(_chaikin(pts, 1, 0.05))
    c.commit()
    thread = (214, 150, 60) if kind == "jeans" else edge
    # waistband with loops and button
    band = 0.055
    c.line([(-ww, y0 + band), (ww, y0 + band)], edge, 0.004)
    c.stitch([(-ww + 0.01, y0 + band - 0.012), (ww - 0.01, y0 + band - 0.012)], thread)
    for x in (-0.75, -0.35, 0.35, 0.75):
        xx = x * ww
        c.poly(
            [
                (xx - 0.012, y0 - 0.004),
                (xx + 0.012, y0 - 0.004),
                (xx + 0.012, y0 + band + 0.015),
                (xx - 0.012, y0 + band + 0.015),
            ],
            _shade(c.base, 0.9),
            edge,
            0.003,
        )
    button = _METALS["silver" if kind != "trousers" else "gunmetal"] if kind == "jeans" else _shade(c.base, 0.6)
    c.circle(-0.01, y0 + band / 2, 0.014, fill=button, outline=edge, width=0.003)
    # fly and centre seam
    c.stitch([(-0.005, y0 + band), (-0.005, crotch - 0.08), (0.04, crotch - 0.04)], thread)
    c.line([(0.0, y0 + band), (0.0, crotch)], edge, 0.004)
    # pockets
    for m in (1, -1):
        if kind == "jeans":
            c.stitch(
                _quad((m * (ww - 0.12), y0 + band), (m * (ww - 0.1), y0 + 0.17), (m * (hip - 0.005), y0 + 0.17), 8),
                thread,
            )
            c.line(
                _quad((m * (ww - 0.11), y0 + band), (m * (ww - 0.09), y0 + 0.155), (m * (hip - 0.01), y0 + 0.16), 8),
                edge,
                0.004,
            )
            c.circle(m * (ww - 0.02), y0 + band + 0.01, 0.008, fill=_METALS["gold"])
        else:
            c.line([(m * (ww - 0.07), y0 + band), (m * (hip - 0.012), y0 + 0.18)], edge, 0.004)
        if kind != "shorts":  # crease / knee highlight
            xm = m * (ho + hi) / 2
            if kind == "trousers":
                c.line(
                    [(m * (hip - 0.1), y0 + 0.22), (xm, y1 - 0.01)], (*_shade(c.base, 0.85), 160), 0.004, opaque=False
                )
            else:
                c.highlight([(m * (hip - 0.09), y0 + 0.26), (m * (hip - 0.1), y0 + 0.45)], 0.06, 36)
                for k in range(3):
                    yy = crotch + 0.02 + k * 0.03
                    c.highlight([(m * 0.03, yy), (m * 0.11, yy - 0.02)], 0.008, 50)
        c.stitch([(m * (ho - 0.01), y1 - 0.025), (m * (hi + 0.01), y1 - 0.025)], thread)
    if kind == "shorts" and r.random() < 0.5:
        c.poly([(-ho, y1 - 0.06), (-hi, y1 - 0.06), (-hi, y1), (-ho, y1)], _shade(c.base, 0.9), edge, 0.004)
        c.poly([(ho, y1 - 0.06), (hi, y1 - 0.06), (hi, y1), (ho, y1)], _shade(c.base, 0.9), edge, 0.004)
        return ["a button closure", "turn-up hems", "slant pockets"]
    if kind == "jeans":
        c.fold([(-0.12, y1 - 0.15), (-0.06, y1 - 0.1)], 0.02)
        return ["a button and zip fly", "five pockets", "contrast stitching"]
    if kind == "trousers":
        return ["a button and zip fly", "slant pockets", "pressed creases"]
    return ["a button and zip fly", "two pockets"]


def _draw_jeans(c: _Canvas) -> list[str]:
    return _draw_legwear(c, "jeans")


def _draw_trousers(c: _Canvas) -> list[str]:
    return _draw_legwear(c, "trousers")


def _draw_shorts(c: _Canvas) -> list[str]:
    return _draw_legwear(c, "shorts")


def _draw_skirt(c: _Canvas) -> list[str]:
    r = c.rng
    y0 = -0.4
    y1 = r.uniform(0.2, 0.45)
    ww = r.uniform(0.15, 0.18)
    style = r.choice(["aline", "pencil", "pleated", "flared"])
    hw = {"aline": 0.32, "pencil": 0.2, "pleated": 0.34, "flared": 0.4}[style] + r.uniform(-0.02, 0.03)
    if style == "pencil":
        pts = [(-ww, y0), (ww, y0), (ww + 0.05, y0 + 0.15), (hw, y1), (-hw, y1), (-ww - 0.05, y0 + 0.15)]
    elif style == "flared":
        hem = _quad((hw, y1), (0, y1 + 0.08), (-hw, y1), 14)
        pts = [(-ww, y0), (ww, y0), (ww + 0.08, y0 + 0.2), (hw, y1), *hem, (-ww - 0.08, y0 + 0.2)]
    else:
        pts = [(-ww, y0), (ww, y0), (hw, y1), (-hw, y1)]
    c.fabric_poly(_chaikin(pts, 1, 0.04))
    c.commit()
    edge = _edge(c.base)
    c.poly([(-ww, y0), (ww, y0), (ww + 0.005, y0 + 0.05), (-ww - 0.005, y0 + 0.05)], _shade(c.base, 0.86), edge, 0.005)
    feats = ["a waistband"]
    if style in ("pleated", "flared"):
        n = 9 if style == "pleated" else 6
        for k in range(1, n):
            t = k / n
            top = (-ww + 2 * ww * t, y0 + 0.05)
            bottom = (-hw + 2 * hw * t, y1 + (0.04 if style == "flared" else 0) * math.sin(math.pi * t))
            c.fold([top, bottom], 0.012, 40)
        feats.append("pleats" if style == "pleated" else "a flared hem")
    else:
        c.line([(0.06, y0 + 0.05), (0.07, y0 + 0.22)], edge, 0.004)  # zip
        if style == "pencil":
            c.line([(0.0, y1 - 0.12), (0.0, y1)], edge, 0.005)  # slit
            feats.append("a back slit")
    c.stitch(_quad((-hw + 0.02, y1 - 0.025), (0, y1 - 0.025), (hw - 0.02, y1 - 0.025)), edge)
    return feats


def _draw_dress(c: _Canvas) -> list[str]:
    r = c.rng
    y0 = -0.55
    waist_y = r.uniform(-0.17, -0.12)
    y1 = r.uniform(0.5, 0.58)
    hw = r.uniform(0.28, 0.4)
    wx = r.uniform(0.12, 0.14)
    sleeves = r.choice(["straps", "sleeveless", "short"])
    # colour block on the bodice, or a band at the hem
    c.block = (
        [(-2, y1 - 0.17), (2, y1 - 0.17), (2, 2), (-2, 2)]
        if r.random() < 0.5
        else [(-2, -2), (2, -2), (2, waist_y), (-2, waist_y)]
    )
    si = 0.075
    if sleeves == "straps":
        bodice = [(0.1, y0 + 0.12), (0.14, y0 + 0.13), (0.17, y0 + 0.27), (wx, waist_y)]
        c.line([(0.1, y0 + 0.14), (0.11, y0)], _shade(c.base, 0.85), 0.014)
        c.line([(-0.1, y0 + 0.14), (-0.11, y0)], _shade(c.base, 0.85), 0.014)
    elif sleeves == "sleeveless":
        bodice = [(si, y0), (0.14, y0), (0.15, y0 + 0.12), (0.18, y0 + 0.22), (wx, waist_y)]
    else:
        bodice = [(si, y0), (0.15, y0 + 0.01), (0.25, y0 + 0.13), (0.2, y0 + 0.18), (0.175, y0 + 0.2), (wx, waist_y)]
    hem = _quad((hw, y1), (0, y1 + 0.06), (-hw, y1), 14)
    pts = _mirror(bodice) + bodice + [(hw, y1), *hem[:-1]]
    c.fabric_poly(_chaikin(pts, 2, 0.1))
    c.commit()
    edge = _edge(c.base)
    if sleeves == "straps":
        c.line(_quad((-0.12, y0 + 0.125), (0, y0 + 0.2), (0.12, y0 + 0.125)), edge, 0.005)
        feats = ["shoulder straps", "a sweetheart neck"]
    else:
        front = _neckline_inside(c, si, y0, r.uniform(0.05, 0.08), r.random() < 0.4)
        c.line(front, edge, 0.005)
        feats = ["a sleeveless design" if sleeves == "sleeveless" else "short sleeves", "a fitted bodice"]
    c.line(_quad((-wx, waist_y), (0, waist_y + 0.012), (wx, waist_y)), edge, 0.005)
    if r.random() < 0.35:
        belt = COLOURS[r.choice(["Black", "Brown", "Gold", "White"])]
        c.poly(
            [
                (-wx, waist_y - 0.015),
                (wx, waist_y - 0.015),
                (wx + 0.003, waist_y + 0.02),
                (-wx - 0.003, waist_y + 0.02),
            ],
            belt,
            _edge(belt),
            0.003,
        )
        feats.append("a waist belt")
    for k in range(1, 6):
        t = k / 6
        c.fold(
            [(-wx + 2 * wx * t, waist_y + 0.03), (-hw + 2 * hw * t, y1 - 0.02 + 0.05 * math.sin(math.pi * t))],
            0.014,
            30,
        )
    c.stitch(_quad((-hw + 0.02, y1 - 0.02), (0, y1 + 0.035), (hw - 0.02, y1 - 0.02), 12), edge)
    feats.append("a flared skirt")
    return feats


# --------------------------------------------------------------------------- footwear


def _sole(
    c: _Canvas, top: float, bottom: float, colour: RGB, toe_lift: float = 0.05, heel: float = -0.45, toe: float = 0.47
) -> None:
    pts = [
        (heel + 0.01, top),
        (heel - 0.005, (top + bottom) / 2),
        (heel + 0.02, bottom),
        (toe - 0.12, bottom),
        (toe - 0.02, bottom - toe_lift * 0.6),
        (toe + 0.01, top - toe_lift),
        (toe - 0.04, top - toe_lift * 0.8),
    ]
    c.poly(_chaikin(pts, 2, 0.2), colour, _edge(colour), 0.005)


def _draw_sports_shoe(c: _Canvas) -> list[str]:
    r = c.rng
    c.flip = r.choice([1, -1])
    c.unit *= 0.93
    edge = _edge(c.base)
    h = r.uniform(0.0, 0.04)
    upper = [
        (-0.44, 0.07),
        (-0.455, -0.06),
        (-0.43, -0.16 - h),
        (-0.36, -0.2 - h),
        (-0.26, -0.15 - h),
        (-0.12, -0.19 - h),
        (-0.07, -0.27 - h),
        (0.0, -0.27 - h),
        (0.03, -0.2),
        (0.26, -0.06),
        (0.4, -0.02),
        (0.47, 0.04),
        (0.44, 0.08),
    ]
    c.block = (
        [(-0.6, -0.5), (-0.32, -0.5), (-0.24, 0.2), (-0.6, 0.2)]
        if r.random() < 0.5
        else [(0.22, -0.5), (0.7, -0.5), (0.7, 0.2), (0.22, 0.2)]
    )
    c.fabric_poly(_chaikin(upper, 3, 0.25))
    c.commit()
    midsole = r.choice([(246, 246, 243), (246, 246, 243), (236, 234, 226), (212, 214, 218)])
    if _luma(c.base) > 200:  # white shoes get a dark sole
        midsole = r.choice([(40, 40, 42), (120, 122, 126)])
    _sole(c, 0.05, 0.15, midsole, 0.06)
    c.poly(_chaikin([(-0.43, 0.13), (0.34, 0.13), (0.36, 0.155), (-0.42, 0.155)], 1), (50, 50, 52))
    # swoosh-like accent or three stripes
    accent = c.secondary if c.pattern != "solid" else (midsole if _dist(midsole, c.base) > 80 else (245, 245, 242))
    if r.random() < 0.5:
        c.poly(
            _chaikin([(-0.36, 0.0), (-0.1, -0.02), (0.18, -0.08), (-0.05, 0.03), (-0.33, 0.04)], 2, 0.2),
            accent,
            _edge(accent),
            0.003,
        )
    else:
        for k in range(3):
            x = -0.14 + k * 0.06
            c.poly([(x, -0.17 + k * 0.03), (x + 0.03, -0.16 + k * 0.03), (x + 0.09, 0.04), (x + 0.06, 0.04)], accent)
    # laces, tongue, heel tab
    for k in range(5):
        t = k / 5
        x, y = -0.02 + 0.24 * t, -0.19 + 0.12 * t
        c.line(
            [(x - 0.02, y - 0.025), (x + 0.035, y + 0.025)],
            (245, 245, 240) if _luma(c.base) < 170 else (40, 40, 40),
            0.012,
        )
        c.circle(x, y, 0.008, fill=edge)
    c.line([(-0.06, -0.255 - h), (-0.02, -0.2)], edge, 0.004)
    c.poly([(-0.455, -0.16 - h), (-0.42, -0.19 - h), (-0.41, -0.05), (-0.45, -0.04)], _shade(c.base, 0.75))
    c.stitch(_chaikin([(0.2, 0.04), (0.3, -0.02), (0.42, 0.0)], 2, 0.25, closed=False), edge)
    return ["a lace-up closure", "a cushioned midsole", "a padded collar"]


def _dress_shoe_upper(c: _Canvas, collar: float, toe: float) -> None:
    """Side view of a low leather shoe (toe to the right), painted as fabric."""
    upper = [
        (-0.43, 0.055),
        (-0.45, -0.02),
        (-0.42, -0.14 - collar),
        (-0.3, -0.13 - collar),
        (-0.16, -0.125),
        (-0.1, -0.18),
        (0.0, -0.18),
        (0.13, -0.13),
        (0.3, -0.06),
        (toe - 0.05, -0.01),
        (toe, 0.04),
        (toe - 0.03, 0.075),
        (0.2, 0.09),
        (-0.1, 0.07),
    ]
    c.fabric_poly(_chaikin(upper, 3, 0.25))
    c.commit()


def _dress_shoe_sole(c: _Canvas, colour: RGB, toe: float) -> None:
    edge = _edge(colour)
    sole = [
        (-0.3, 0.065),
        (-0.1, 0.07),
        (0.2, 0.088),
        (toe - 0.03, 0.073),
        (toe + 0.005, 0.05),
        (toe - 0.01, 0.09),
        (0.2, 0.11),
        (-0.05, 0.095),
        (-0.3, 0.09),
    ]
    c.poly(_chaikin(sole, 2, 0.2), colour, edge, 0.004)
    c.poly([(-0.435, 0.045), (-0.27, 0.06), (-0.275, 0.11), (-0.425, 0.11)], colour, edge, 0.004)
    c.line([(-0.43, 0.075), (-0.275, 0.075)], edge, 0.003)


def _draw_casual_shoe(c: _Canvas) -> list[str]:
    r = c.rng
    c.flip = r.choice([1, -1])
    c.unit *= 0.93
    edge = _edge(c.base)
    style = r.choice(["sneaker", "sneaker", "loafer", "boot"])
    c.block = (
        [(0.28, -0.6), (0.7, -0.6), (0.7, 0.3), (0.28, 0.3)]
        if r.random() < 0.5
        else [(-0.7, -0.6), (-0.3, -0.6), (-0.3, 0.3), (-0.7, 0.3)]
    )
    if style == "loafer":
        _dress_shoe_upper(c, -0.01, 0.47)
        sole = COLOURS[r.choice(["Brown", "Tan", "Black"])]
        if _dist(sole, c.base) < 50:
            sole = _shade(c.base, 0.55)
        _dress_shoe_sole(c, sole, 0.47)
        c.poly(
            _chaikin([(-0.12, -0.1), (0.0, -0.155), (0.14, -0.1), (0.12, -0.05), (-0.02, -0.06)], 2, 0.25),
            _shade(c.base, 1.06),
            edge,
            0.004,
        )
        c.stitch(
            _chaikin([(-0.12, -0.1), (-0.02, -0.05), (0.3, -0.04), (0.43, 0.0)], 2, 0.25, closed=False),
            edge,
            0.005,
            0.012,
        )
        c.poly([(-0.07, -0.1), (0.08, -0.12), (0.09, -0.09), (-0.06, -0.07)], _shade(c.base, 0.75), edge, 0.003)
        c.highlight([(0.2, -0.06), (0.4, 0.0)], 0.02, 60)
        return ["a slip-on style", "moccasin stitching", "a penny strap"]
    if style == "boot":
        upper = [
            (-0.43, 0.08),
            (-0.44, -0.2),
            (-0.4, -0.38),
            (-0.1, -0.38),
            (-0.06, -0.2),
            (0.2, -0.07),
            (0.38, -0.03),
            (0.46, 0.04),
            (0.44, 0.08),
        ]
    else:
        upper = [
            (-0.43, 0.08),
            (-0.455, -0.1),
            (-0.43, -0.19),
            (-0.33, -0.2),
            (-0.2, -0.16),
            (-0.1, -0.2),
            (-0.06, -0.27),
            (0.01, -0.27),
            (0.04, -0.19),
            (0.28, -0.07),
            (0.4, -0.035),
            (0.47, 0.04),
            (0.44, 0.08),
        ]
    c.fabric_poly(_chaikin(upper, 3, 0.25))
    c.commit()
    if style == "sneaker":
        sole = (245, 244, 238)
        _sole(c, 0.05, 0.13, sole, 0.04)
        c.line([(-0.44, 0.1), (0.4, 0.1)], _shade(c.base, 0.8), 0.008)
        c.line(_chaikin([(0.3, 0.02), (0.38, -0.01), (0.46, 0.04)], 2, 0.25, closed=False), _edge(sole), 0.004)
        for k in range(5):
            t = k / 5
            x, y = 0.0 + 0.24 * t, -0.2 + 0.11 * t
            c.line(
                [(x - 0.02, y - 0.02), (x + 0.03, y + 0.02)],
                (245, 245, 240) if _luma(c.base) < 170 else (50, 50, 50),
                0.01,
            )
            c.circle(x, y, 0.007, fill=_METALS["silver"])
        c.stitch([(-0.43, 0.0), (0.28, 0.0)], edge)
        return ["a lace-up closure", "a rubber toe cap", "a flat rubber sole"]
    sole = (60, 45, 35) if _luma(c.base) > 60 else (120, 90, 60)
    _sole(c, 0.06, 0.13, sole, 0.03)
    c.line([(-0.44, 0.115), (0.4, 0.115)], _shade(sole, 0.6), 0.01)
    for k in range(6):
        y = -0.32 + k * 0.05
        c.circle(-0.1 + k * 0.012, y, 0.008, fill=_METALS["gold"])
    c.line([(-0.09, -0.34), (0.0, -0.1)], _shade(c.base, 0.6), 0.01)
    c.line(_quad((0.1, -0.06), (0.18, 0.06), (0.34, -0.02)), edge, 0.004)
    c.stitch([(-0.43, -0.02), (0.3, -0.02)], edge)
    return ["a mid-top design", "a lace-up closure", "a lugged sole"]


def _draw_formal_shoe(c: _Canvas) -> list[str]:
    r = c.rng
    c.flip = r.choice([1, -1])
    c.unit *= 0.93
    edge = _edge(c.base)
    toe = r.uniform(0.46, 0.5)
    _dress_shoe_upper(c, r.uniform(-0.01, 0.02), toe)
    sole = (40, 28, 22) if _luma(c.base) > 45 else (18, 18, 18)
    _dress_shoe_sole(c, sole, toe)
    c.highlight([(0.15, -0.07), (toe - 0.08, -0.005)], 0.02, 80)
    c.highlight([(-0.4, -0.06), (-0.3, -0.07)], 0.012, 50)
    style = r.choice(["oxford", "derby", "brogue"])
    # quarter (lacing) seam, heel counter and welt stitching
    c.line(_chaikin([(-0.14, -0.125), (-0.08, -0.03), (-0.02, 0.06)], 2, 0.25, closed=False), edge, 0.004)
    c.line(_chaikin([(-0.34, -0.13), (-0.31, 0.0), (-0.33, 0.06)], 2, 0.25, closed=False), edge, 0.004)
    c.stitch(
        _chaikin([(-0.42, 0.045), (-0.1, 0.06), (0.2, 0.078), (toe - 0.04, 0.063)], 1, 0.25, closed=False),
        _shade(edge, 1.3),
        0.004,
        0.01,
    )
    lace = (25, 22, 20) if _luma(c.base) > 45 else (70, 70, 70)
    for k in range(4):
        x = -0.09 + k * 0.035
        c.line([(x - 0.015, -0.16 + k * 0.014), (x + 0.03, -0.175 + k * 0.014)], lace, 0.007)
    feats = ["a lace-up closure", "a leather sole", "a stacked heel"]
    if style in ("oxford", "brogue"):
        cap = _quad((0.29, -0.055), (0.25, 0.01), (0.3, 0.08))
        c.line([(0.29, -0.055), *cap], edge, 0.004)
        feats.insert(0, "a cap toe")
    if style == "brogue":
        for x, y in _quad((0.29, -0.055), (0.25, 0.01), (0.3, 0.08), 9):
            c.circle(x - 0.016, y, 0.004, fill=edge)
        feats.insert(0, "brogue detailing")
    return feats


def _foot(cx: float, cy: float, w: float, length: float, mirror: bool) -> list[Point]:
    base = [
        (0.05, -0.5),
        (0.32, -0.46),
        (0.48, -0.33),
        (0.5, -0.18),
        (0.42, 0.02),
        (0.36, 0.2),
        (0.38, 0.38),
        (0.26, 0.5),
        (0.0, 0.53),
        (-0.26, 0.5),
        (-0.38, 0.38),
        (-0.36, 0.2),
        (-0.4, 0.02),
        (-0.46, -0.2),
        (-0.42, -0.38),
        (-0.24, -0.49),
    ]
    m = -1 if mirror else 1
    return _chaikin([(cx + m * x * w, cy + y * length) for x, y in base], 2, 0.25)


def _draw_flip_flops(c: _Canvas) -> list[str]:
    r = c.rng
    length, w = r.uniform(0.95, 1.05), r.uniform(0.3, 0.34)
    gap = r.uniform(0.18, 0.21)
    shift = r.uniform(0.02, 0.06)
    strap = COLOURS[r.choice(["White", "Black", "Navy Blue", "Red", "Yellow", "Grey", "Blue"])]
    if _dist(strap, c.base) < 90:
        strap = _shade(c.base, 0.55) if _luma(c.base) > 90 else (235, 235, 230)
    edge = _edge(c.base)
    for side, (cx, cy) in enumerate([(-gap, -shift), (gap, shift)]):
        outline = _foot(cx, cy, w, length, side == 0)
        c.poly([(x + 0.008, y + 0.018) for x, y in outline], _shade(c.base, 0.6))  # sole thickness
        c.fabric_poly(outline)
    c.commit()
    for side, (cx, cy) in enumerate([(-gap, -shift), (gap, shift)]):
        m = -1 if side == 0 else 1
        post = (cx - m * 0.01, cy - length * 0.31)
        c.line([(post[0], post[1] + 0.01), (post[0] + 0.005, post[1] - 0.01)], _shade(c.base, 0.5), 0.01)
        left = (cx - w * 0.41, cy - length * 0.02)
        right = (cx + w * 0.41, cy - length * 0.02)
        c.line(_quad(left, (cx - w * 0.25, cy - length * 0.2), post, 8), strap, 0.045)
        c.line(_quad(right, (cx + w * 0.25, cy - length * 0.2), post, 8), strap, 0.045)
        c.circle(*post, 0.024, fill=_shade(strap, 0.85), outline=_edge(strap), width=0.004)
        c.fold(
            _quad((cx - w * 0.2, cy + length * 0.25), (cx, cy + length * 0.3), (cx + w * 0.2, cy + length * 0.25)),
            0.05,
            18,
        )
        c.line(_chaikin(_foot(cx, cy, w * 0.86, length * 0.92, side == 0), 0), (*edge, 90), 0.004, opaque=False)
    return ["a thong-style V strap", "a textured footbed", "a lightweight sole"]


def _draw_sandals(c: _Canvas) -> list[str]:
    r = c.rng
    length, w = r.uniform(0.95, 1.03), r.uniform(0.29, 0.33)
    gap = r.uniform(0.18, 0.21)
    shift = r.uniform(0.02, 0.06)
    strap = _shade(c.base, r.uniform(0.7, 0.85))
    footbed = _mix(c.base, (255, 240, 220), 0.08)
    c.pattern = "solid"
    style = r.choice(["cross", "triple", "tstrap"])
    buckle = _METALS[r.choice(["gold", "silver"])]
    sole = (50, 40, 34) if _luma(c.base) > 70 else (120, 100, 80)
    for side, (cx, cy) in enumerate([(-gap, -shift), (gap, shift)]):
        outline = _foot(cx, cy, w, length, side == 0)
        c.poly([(x + 0.006, y + 0.02) for x, y in outline], sole)
        c.poly(outline, footbed, _edge(c.base), 0.005)
    for side, (cx, cy) in enumerate([(-gap, -shift), (gap, shift)]):
        ys = {"cross": [-0.22, -0.05], "triple": [-0.3, -0.14, 0.02], "tstrap": [-0.1]}[style]
        for y in ys:
            yy = cy + y * length
            half = w * 0.52
            c.poly(
                _chaikin(
                    [
                        (cx - half, yy - 0.04),
                        (cx, yy - 0.065),
                        (cx + half, yy - 0.04),
                        (cx + half, yy + 0.04),
                        (cx, yy + 0.015),
                        (cx - half, yy + 0.04),
                    ],
                    1,
                    0.2,
                ),
                strap,
                _edge(strap),
                0.005,
            )
            c.stitch([(cx - half * 0.85, yy - 0.025), (cx, yy - 0.045), (cx + half * 0.85, yy - 0.025)], _edge(strap))
        if style == "tstrap":
            c.poly(
                [
                    (cx - 0.025, cy - 0.4 * length),
                    (cx + 0.025, cy - 0.4 * length),
                    (cx + 0.025, cy - 0.1 * length),
                    (cx - 0.025, cy - 0.1 * length),
                ],
                strap,
                _edge(strap),
                0.004,
            )
        # ankle strap loop behind the heel, with buckle
        hy = cy + 0.33 * length
        c.line(_quad((cx - w * 0.45, hy), (cx, hy - 0.16), (cx + w * 0.45, hy), 10), strap, 0.028)
        bx = cx + (w * 0.4 if side else -w * 0.4)
        c.poly(
            [(bx - 0.03, hy - 0.045), (bx + 0.03, hy - 0.045), (bx + 0.03, hy + 0.01), (bx - 0.03, hy + 0.01)],
            (0, 0, 0, 0),
            buckle,
            0.009,
        )
        c.line([(bx, hy - 0.04), (bx, hy + 0.005)], buckle, 0.005)
    return ["an ankle strap with buckle closure", "a cushioned footbed", "multiple straps"]


# --------------------------------------------------------------------------- accessories


def _draw_handbag(c: _Canvas) -> list[str]:
    r = c.rng
    edge = _edge(c.base)
    top, bottom = r.uniform(-0.12, -0.04), r.uniform(0.36, 0.44)
    c.block = [(-2, bottom - 0.13), (2, bottom - 0.13), (2, 2), (-2, 2)]
    tw, bw = r.uniform(0.24, 0.3), r.uniform(0.32, 0.38)
    handle_h = r.uniform(0.25, 0.36)
    handle = _shade(c.base, 0.75)
    style = r.choice(["tote", "satchel", "flap"])
    for m in (1, -1):  # handles behind the body
        if style == "tote":
            x0, x1 = m * 0.2, m * 0.08
            c.line(_quad((x0, top + 0.02), ((x0 + x1) / 2, top - handle_h * 1.9), (x1, top + 0.02), 16), handle, 0.028)
        elif m == 1:
            c.line(_quad((-0.12, top + 0.02), (0, top - handle_h * 1.7), (0.12, top + 0.02), 16), handle, 0.032)
    body = [(-tw, top), (tw, top), (bw, bottom - 0.06), (bw - 0.04, bottom), (-bw + 0.04, bottom), (-bw, bottom - 0.06)]
    c.fabric_poly(_chaikin(body, 2, 0.12))
    c.commit()
    stitch = _shade(c.base, 1.25) if _luma(c.base) < 80 else edge
    c.stitch([(-tw + 0.03, top + 0.03), (tw - 0.03, top + 0.03)], stitch)
    c.stitch([(-bw + 0.04, bottom - 0.035), (bw - 0.04, bottom - 0.035)], stitch)
    c.fold([(-bw * 0.6, top + 0.06), (-bw * 0.75, bottom - 0.06)], 0.05, 20)
    c.fold([(bw * 0.7, top + 0.06), (bw * 0.8, bottom - 0.06)], 0.04, 24)
    metal = _METALS[r.choice(["gold", "gold", "silver"])]
    feats = []
    if style == "flap":
        fy = top + (bottom - top) * 0.55
        flap = [
            (-tw - 0.005, top - 0.005),
            (tw + 0.005, top - 0.005),
            (tw * 1.08, fy - 0.05),
            (0, fy + 0.03),
            (-tw * 1.08, fy - 0.05),
        ]
        c.poly(_chaikin(flap, 2, 0.15), _shade(c.base, 0.95), edge, 0.005)
        c.poly([(-0.04, fy - 0.05), (0.04, fy - 0.05), (0.04, fy + 0.0), (-0.04, fy + 0.0)], metal, _edge(metal), 0.004)
        feats += ["a fold-over flap", "a metal clasp"]
    elif style == "satchel":
        c.line([(-tw + 0.02, top + 0.06), (tw - 0.02, top + 0.06)], metal, 0.008)
        c.poly([(0.05, top + 0.06), (0.08, top + 0.06), (0.075, top + 0.12), (0.055, top + 0.12)], metal)
        c.line([(-tw + 0.02, top + 0.06), (-bw + 0.02, bottom - 0.06)], edge, 0.004)
        c.line([(tw - 0.02, top + 0.06), (bw - 0.02, bottom - 0.06)], edge, 0.004)
        c.poly([(-0.06, 0.12), (0.06, 0.12), (0.06, 0.16), (-0.06, 0.16)], metal, _edge(metal), 0.003)
        feats += ["a zip closure", "a top handle", "a metal logo plaque"]
    else:
        c.poly([(-0.05, top + 0.08), (0.05, top + 0.08), (0.05, top + 0.13), (-0.05, top + 0.13)], metal)
        for m in (1, -1):
            c.circle(m * 0.14, top + 0.03, 0.014, fill=metal)
        feats += ["two handles", "a magnetic snap closure"]
    return feats


def _draw_backpack(c: _Canvas) -> list[str]:
    r = c.rng
    edge = _edge(c.base)
    c.block = [(-2, 0.18), (2, 0.18), (2, 2), (-2, 2)]
    w = r.uniform(0.27, 0.31)
    top, bottom = r.uniform(-0.52, -0.46), r.uniform(0.44, 0.5)
    strap = _shade(c.base, 0.7)
    for m in (1, -1):  # shoulder straps peeking out at the sides
        c.poly(
            _chaikin(
                [
                    (m * (w - 0.05), top + 0.15),
                    (m * (w + 0.045), top + 0.22),
                    (m * (w + 0.05), bottom - 0.2),
                    (m * (w - 0.05), bottom - 0.15),
                ],
                1,
            ),
            strap,
            _edge(strap),
            0.004,
        )
    c.line(_quad((-0.06, top + 0.03), (0, top - 0.12), (0.06, top + 0.03), 10), strap, 0.022)
    body = [
        (-w, bottom),
        (-w, top + 0.25),
        *_quad((-w, top + 0.25), (-w, top), (0, top), 8),
        *_quad((0, top), (w, top), (w, top + 0.25), 8),
        (w, bottom),
    ]
    c.fabric_poly(_chaikin(body, 1, 0.1))
    c.commit()
    zip_col = _shade(c.base, 0.55) if _luma(c.base) > 60 else (90, 90, 94)
    c.line(_quad((-w + 0.04, top + 0.3), (0, top - 0.06), (w - 0.04, top + 0.3), 14), zip_col, 0.01)
    # front pocket
    py0 = r.uniform(0.02, 0.1)
    pw = w - r.uniform(0.05, 0.07)
    pocket = [
        (-pw, bottom - 0.03),
        (-pw, py0 + 0.06),
        *_quad((-pw, py0 + 0.06), (-pw, py0), (-pw + 0.08, py0), 5),
        (pw - 0.08, py0),
        *_quad((pw - 0.08, py0), (pw, py0), (pw, py0 + 0.06), 5),
        (pw, bottom - 0.03),
    ]
    c.poly(pocket, (0, 0, 0, 30), edge, 0.005)
    c.line([(-pw + 0.05, py0 + 0.03), (pw - 0.05, py0 + 0.03)], zip_col, 0.008)
    for x in (pw - 0.08, -0.1):
        c.poly(
            [(x - 0.012, py0 + 0.03), (x + 0.012, py0 + 0.03), (x + 0.01, py0 + 0.1), (x - 0.01, py0 + 0.1)],
            _METALS["gunmetal"],
        )
    c.poly(
        [(-0.05, -0.22), (0.05, -0.22), (0.05, -0.17), (-0.05, -0.17)],
        (236, 236, 232) if _luma(c.base) < 140 else (40, 40, 40),
    )
    c.line([(-w + 0.01, bottom - 0.07), (w - 0.01, bottom - 0.07)], edge, 0.004)
    c.fold([(-w * 0.6, top + 0.3), (-w * 0.7, bottom - 0.2)], 0.06, 22)
    c.highlight([(w * 0.3, top + 0.12), (w * 0.6, top + 0.25)], 0.05, 30)
    return ["padded shoulder straps", "a zip main compartment", "a front zip pocket", "a grab handle"]


def _draw_watch(c: _Canvas) -> list[str]:
    r = c.rng
    metal_strap = any(_dist(c.base, COLOURS[name]) < 5 for name in ("Silver", "Gold", "Steel"))
    strap = c.base
    edge = _edge(strap)
    case_r = r.uniform(0.18, 0.205)
    sw = r.uniform(0.22, 0.25)
    square = r.random() < 0.2
    case_metal = (
        strap if metal_strap else _METALS[r.choice(["silver", "gold", "gunmetal"])] if r.random() < 0.4 else strap
    )
    c.pattern = "solid"
    # straps (with a slight taper) behind the case
    for m in (-1, 1):
        y_in, y_out = m * case_r * 0.7, m * 0.64
        pts = [
            (-sw / 2, y_in),
            (sw / 2, y_in),
            (sw * 0.42, y_out - m * 0.03),
            (0, y_out),
            (-sw * 0.42, y_out - m * 0.03),
        ]
        if m == -1:
            pts = [(-sw / 2, y_in), (sw / 2, y_in), (sw * 0.44, y_out), (-sw * 0.44, y_out)]
        c.fabric_poly(_chaikin(pts, 1, 0.08))
    c.commit()
    if metal_strap:
        for y in [k * 0.045 for k in range(-13, 14)]:
            if abs(y) > case_r * 0.75:
                c.line([(-sw * 0.45, y), (sw * 0.45, y)], _shade(strap, 0.75), 0.005)
        c.line([(-sw * 0.15, -0.6), (-sw * 0.15, 0.6)], (*_shade(strap, 0.85), 160), 0.004, opaque=False)
        c.line([(sw * 0.15, -0.6), (sw * 0.15, 0.6)], (*_shade(strap, 0.85), 160), 0.004, opaque=False)
    else:
        c.stitch(
            [(-sw * 0.4, case_r * 0.8), (-sw * 0.36, 0.58)], _edge(strap) if _luma(strap) > 60 else (150, 150, 150)
        )
        c.stitch([(sw * 0.4, case_r * 0.8), (sw * 0.36, 0.58)], _edge(strap) if _luma(strap) > 60 else (150, 150, 150))
        for k in range(5):
            c.circle(0, 0.33 + k * 0.05, 0.011, fill=_shade(strap, 0.45))
        buckle = _METALS["silver"] if case_metal == strap else case_metal
        c.poly(
            [(-sw * 0.55, -0.48), (sw * 0.55, -0.48), (sw * 0.55, -0.41), (-sw * 0.55, -0.41)],
            (0, 0, 0, 0),
            buckle,
            0.012,
        )
        c.line([(0, -0.48), (0, -0.4)], buckle, 0.008)
        c.poly(
            [(-sw * 0.45, -0.36), (sw * 0.45, -0.36), (sw * 0.45, -0.33), (-sw * 0.45, -0.33)],
            _shade(strap, 0.8),
            edge,
            0.003,
        )
    # lugs, case, crown
    for m in (-1, 1):
        c.poly(
            [
                (-sw * 0.55, m * case_r * 0.6),
                (sw * 0.55, m * case_r * 0.6),
                (sw * 0.5, m * (case_r + 0.04)),
                (-sw * 0.5, m * (case_r + 0.04)),
            ],
            _shade(case_metal, 0.9),
            _edge(case_metal),
            0.003,
        )
    c.poly(
        [(case_r - 0.01, -0.03), (case_r + 0.04, -0.03), (case_r + 0.04, 0.03), (case_r - 0.01, 0.03)],
        _shade(case_metal, 0.85),
        _edge(case_metal),
        0.003,
    )
    dial_choice = (
        r.choice(["white", "white", "black", "tone"]) if not metal_strap else r.choice(["white", "black", "blue"])
    )
    dial = {
        "white": (244, 243, 238),
        "black": (28, 28, 30),
        "tone": _mix(strap, (255, 255, 255), 0.12),
        "blue": (30, 50, 110),
    }[dial_choice]
    ink = (30, 30, 30) if _luma(dial) > 128 else (236, 236, 232)
    if square:
        s = case_r * 0.92
        c.poly(_chaikin([(-s, -s), (s, -s), (s, s), (-s, s)], 2, 0.15), case_metal, _edge(case_metal), 0.004)
        s2 = s * 0.8
        c.poly(_chaikin([(-s2, -s2), (s2, -s2), (s2, s2), (-s2, s2)], 2, 0.15), dial, _edge(case_metal), 0.003)
    else:
        c.circle(0, 0, case_r, fill=case_metal, outline=_edge(case_metal), width=0.004)
        c.circle(0, 0, case_r * 0.8, fill=dial, outline=_shade(case_metal, 0.7), width=0.004)
    dr = case_r * 0.8
    for k in range(12):
        a = k * math.tau / 12
        inner = 0.78 if k % 3 else 0.68
        c.line(
            [(math.sin(a) * dr * inner, -math.cos(a) * dr * inner), (math.sin(a) * dr * 0.9, -math.cos(a) * dr * 0.9)],
            ink,
            0.012 if k % 3 == 0 else 0.006,
        )
    hour, minute = r.uniform(0, math.tau), r.uniform(0, math.tau)
    c.line([(0, 0), (math.sin(hour) * dr * 0.5, -math.cos(hour) * dr * 0.5)], ink, 0.014)
    c.line([(0, 0), (math.sin(minute) * dr * 0.78, -math.cos(minute) * dr * 0.78)], ink, 0.009)
    sec = r.uniform(0, math.tau)
    c.line(
        [
            (-math.sin(sec) * dr * 0.15, math.cos(sec) * dr * 0.15),
            (math.sin(sec) * dr * 0.85, -math.cos(sec) * dr * 0.85),
        ],
        (210, 40, 40),
        0.004,
    )
    c.circle(0, 0, 0.012, fill=ink)
    c.highlight([(-dr * 0.6, -dr * 0.3), (-dr * 0.2, -dr * 0.7)], 0.03, 45)
    feats = ["an analog dial", "a " + ("metal bracelet" if metal_strap else "strap with buckle closure")]
    feats.append("a square case" if square else "a round case")
    return feats


def _draw_cap(c: _Canvas) -> list[str]:
    r = c.rng
    c.flip = r.choice([1, -1])
    edge = _edge(c.base)
    graphic = c.pattern == "print"
    if graphic:
        c.pattern = "solid"
    rx, ry = r.uniform(0.3, 0.34), r.uniform(0.3, 0.36)
    cx, base_y = -0.13, 0.12
    brim_len = r.uniform(0.26, 0.31)
    # underside of the brim
    brim = [
        (cx + rx * 0.35, base_y - 0.03),
        (cx + rx + brim_len * 0.5, base_y - 0.02),
        (cx + rx + brim_len, base_y + 0.06),
        (cx + rx + brim_len * 0.9, base_y + 0.1),
        (cx + rx * 0.55, base_y + 0.06),
    ]
    c.block = _chaikin(brim, 2, 0.2)
    dome = _ellipse_pts(cx, base_y, rx, ry, 180, 360, 30)
    c.fabric_poly([*dome, (cx + rx, base_y + 0.03), (cx - rx, base_y + 0.03)])
    c.fabric_poly(_chaikin(brim, 2, 0.2))
    c.commit()
    c.fold(_chaikin(brim, 2, 0.2)[6:12], 0.02, 60)
    # panel seams, button, eyelets, sweatband
    top = (cx + rx * 0.1, base_y - ry)
    for t in (-0.55, 0.25, 0.75):
        end = (cx + rx * t, base_y)
        c.stitch(_quad(top, (cx + rx * t * 1.05, base_y - ry * 0.7), end, 10), edge)
    c.line(_ellipse_pts(cx, base_y, rx, ry, 180, 360, 30), edge, 0.005)
    c.circle(*top, 0.022, fill=_shade(c.base, 0.85), outline=edge, width=0.004)
    for t in (-0.35, 0.5):
        c.circle(cx + rx * t, base_y - ry * 0.62, 0.01, fill=_shade(c.base, 0.6))
    c.line([(cx - rx, base_y + 0.015), (cx + rx * 0.4, base_y + 0.015)], _shade(c.base, 0.75), 0.02)
    feats = ["a curved brim", "six panels", "eyelets"]
    if graphic:
        _chest_graphic(c, cx + rx * 0.45, base_y - ry * 0.42, 0.07)
        feats.append("an embroidered logo")
    return feats


def _draw_belt(c: _Canvas) -> list[str]:
    r = c.rng
    edge = _edge(c.base)
    c.pattern = "solid"
    angle = math.radians(r.uniform(30, 40)) * r.choice([1, -1])
    length, half = r.uniform(1.08, 1.16), r.uniform(0.045, 0.055)
    ux, uy = math.sin(angle), -math.cos(angle)  # along the belt, from tip to buckle
    vx, vy = -uy, ux

    def at(s: float, t: float) -> Point:
        return (ux * s + vx * t, uy * s + vy * t)

    tip, end = -length / 2, length / 2
    strap = [at(tip + 0.06, -half), at(end, -half), at(end, half), at(tip + 0.06, half), at(tip, 0)]
    c.fabric_poly(_chaikin(strap, 1, 0.06))
    c.commit()
    stitch = _shade(c.base, 1.4) if _luma(c.base) < 70 else edge
    c.stitch([at(tip + 0.06, -half * 0.7), at(end - 0.1, -half * 0.7)], stitch, 0.004, 0.012)
    c.stitch([at(tip + 0.06, half * 0.7), at(end - 0.1, half * 0.7)], stitch, 0.004, 0.012)
    for k in range(5):
        s = tip + 0.16 + k * 0.05
        px, py = at(s, 0)
        c.circle(px, py, 0.011, fill=_shade(c.base, 0.35))
    metal = _METALS[r.choice(["silver", "gold", "gunmetal"])]
    # keeper loop and buckle frame with its prong
    c.poly(
        [
            at(end - 0.17, -half * 1.2),
            at(end - 0.14, -half * 1.2),
            at(end - 0.14, half * 1.2),
            at(end - 0.17, half * 1.2),
        ],
        _shade(c.base, 0.8),
        edge,
        0.003,
    )
    bw = half * r.uniform(1.5, 1.8)
    frame = [at(end - 0.11, -bw), at(end + 0.02, -bw), at(end + 0.02, bw), at(end - 0.11, bw)]
    c.poly(frame, (0, 0, 0, 0), _shade(metal, 0.85), 0.022)
    c.line(frame + [frame[0]], metal, 0.012)
    c.line([at(end, 0), at(end - 0.11, 0)], metal, 0.012)
    c.highlight([at(end - 0.1, -bw), at(end + 0.01, -bw)], 0.006, 120)
    return ["a metal pin buckle", "five adjustment holes", "stitched edges"]


def _draw_sunglasses(c: _Canvas) -> list[str]:
    r = c.rng
    style = r.choice(["aviator", "wayfarer", "round", "sport"])
    lens = c.base
    c.pattern = "solid"
    if style == "aviator":
        frame = _METALS[r.choice(["gold", "silver", "gunmetal"])]
        fw = 0.008
    else:
        frame = _shade(lens, 0.6) if r.random() < 0.6 else _mix(lens, COLOURS["Black"], 0.7)
        fw = 0.026
    cxs = r.uniform(0.2, 0.22)
    y = -0.02

    def lens_pts(m: int) -> list[Point]:
        cx = m * cxs
        if style == "aviator":
            pts = [
                (cx - m * 0.15, y - 0.09),
                (cx + m * 0.1, y - 0.1),
                (cx + m * 0.17, y - 0.05),
                (cx + m * 0.12, y + 0.12),
                (cx - m * 0.02, y + 0.14),
                (cx - m * 0.15, y + 0.04),
            ]
            return _chaikin(pts, 3, 0.25)
        if style == "wayfarer":
            pts = [
                (cx - m * 0.15, y - 0.09),
                (cx + m * 0.17, y - 0.1),
                (cx + m * 0.14, y + 0.08),
                (cx - m * 0.12, y + 0.09),
            ]
            return _chaikin(pts, 2, 0.2)
        if style == "round":
            return _ellipse_pts(cx, y, 0.14, 0.14, 0, 360, 40)
        pts = [
            (cx - m * 0.16, y - 0.07),
            (cx + m * 0.18, y - 0.09),
            (cx + m * 0.17, y + 0.04),
            (cx + m * 0.04, y + 0.1),
            (cx - m * 0.14, y + 0.05),
        ]
        return _chaikin(pts, 3, 0.25)

    # temples, seen from slightly above: they recede backwards and upwards
    for m in (1, -1):
        hinge = (m * (cxs + 0.17), y - 0.07)
        c.line(
            [hinge, (m * (cxs + 0.19), y - 0.12), (m * (cxs + 0.1), y - 0.36)], _shade(frame, 0.85), fw * 0.8 + 0.006
        )
    for m in (1, -1):
        pts = lens_pts(m)
        c.fabric_poly(pts, outline=False)
    c.commit()
    for m in (1, -1):
        pts = lens_pts(m)
        c.line(pts + [pts[0]], frame, fw)
        cx = m * cxs
        c.line([(cx - 0.09, y + 0.06), (cx + 0.02, y - 0.07)], (255, 255, 255, 50), 0.028, opaque=False)
        c.line([(cx - 0.02, y + 0.08), (cx + 0.06, y - 0.01)], (255, 255, 255, 35), 0.012, opaque=False)
    bridge_y = y - 0.06
    c.line(
        _quad((-cxs + 0.14, bridge_y + 0.01), (0, bridge_y - 0.04), (cxs - 0.14, bridge_y + 0.01), 8),
        frame,
        max(0.012, fw * 0.8),
    )
    if style == "aviator":
        c.line([(-cxs + 0.1, y - 0.1), (cxs - 0.1, y - 0.1)], frame, 0.007)
    return {
        "aviator": ["a metal aviator frame", "UV-protected lenses"],
        "wayfarer": ["a full-rim wayfarer frame", "UV-protected lenses"],
        "round": ["a round full-rim frame", "UV-protected lenses"],
        "sport": ["a wraparound sports frame", "UV-protected lenses"],
    }[style]


_DRAWERS: dict[str, Callable[[_Canvas], list[str]]] = {
    "Tshirts": _draw_tshirt,
    "Shirts": _draw_shirt,
    "Tops": _draw_top,
    "Sweatshirts": _draw_sweatshirt,
    "Jackets": _draw_jacket,
    "Jeans": _draw_jeans,
    "Trousers": _draw_trousers,
    "Shorts": _draw_shorts,
    "Skirts": _draw_skirt,
    "Dresses": _draw_dress,
    "Casual Shoes": _draw_casual_shoe,
    "Sports Shoes": _draw_sports_shoe,
    "Formal Shoes": _draw_formal_shoe,
    "Flip Flops": _draw_flip_flops,
    "Sandals": _draw_sandals,
    "Handbags": _draw_handbag,
    "Backpacks": _draw_backpack,
    "Watches": _draw_watch,
    "Caps": _draw_cap,
    "Belts": _draw_belt,
    "Sunglasses": _draw_sunglasses,
}


def _pick_accent(rng: random.Random, base: RGB) -> RGB:
    options = [COLOURS[name] for name in _ACCENTS if _dist(COLOURS[name], base) > 120]
    return rng.choice(options)


def _render(
    article_type: str, colour: str | Sequence[int], pattern: str, rng: random.Random, size: tuple[int, int]
) -> tuple[Image.Image, list[str], RGB]:
    if article_type not in _DRAWERS:
        raise ValueError(f"unknown article type {article_type!r}; expected one of {sorted(_DRAWERS)}")
    if isinstance(colour, str):
        if colour not in COLOURS:
            raise ValueError(f"unknown colour {colour!r}; expected one of {sorted(COLOURS)}")
        base = COLOURS[colour]
    else:
        base = tuple(int(v) for v in colour[:3])  # type: ignore[assignment]
    key = pattern.strip().lower()
    key = _PATTERN_ALIASES.get(key, key)
    if key not in PATTERNS:
        raise ValueError(f"unknown pattern {pattern!r}; expected one of {sorted(PATTERNS)}")
    secondary = _pick_accent(rng, base)
    canvas = _Canvas((int(size[0]), int(size[1])), base, key, secondary, rng)
    features = _DRAWERS[article_type](canvas)
    return canvas.render((int(size[0]), int(size[1]))), features, secondary


def draw_product(
    article_type: str, colour: str, pattern: str, rng: random.Random, size: tuple[int, int] = (300, 400)
) -> Image.Image:
    """Draw one product photo: an RGB image of `size` (width, height) on a light background.

    article_type is one of the DEMO_CATEGORIES leaves (e.g. "Tshirts", "Watches"),
    colour a COLOURS name (or an RGB triple), pattern a PATTERNS key ("solid",
    "stripes", "checks", "polka", "print", "colourblock"). All variation comes from rng.
    """
    image, _, _ = _render(article_type, colour, pattern, rng, size)
    return image


# --------------------------------------------------------------------------- catalogue


def _weighted(rng: random.Random, weights: dict) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


_ARTICLE_INDEX: dict[str, tuple[str, str]] = {
    article: (master, sub)
    for master, subs in DEMO_CATEGORIES.items()
    for sub, articles in subs.items()
    for article in articles
}


def _price(rng: random.Random, low: int, high: int) -> tuple[int, int]:
    price = (
        rng.randint(low // 100, high // 100) * 100 + rng.choice([-1, -5, 49, 95, 99])
        if high > 1000
        else rng.randint(low // 50, high // 50) * 50 - 1
    )
    price = max(low, min(high, price))
    if rng.random() < 0.25:
        return price, price
    discounted = round(price * (1 - rng.choice([0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6])))
    return price, max(1, min(price, discounted))


def demo_stock(product_id: int) -> int:
    """Units in stock for generated product `product_id`: varied, the same every run.

    About one product in eleven is sold out and one in six is down to its last 1-3 units,
    so the demo shows every stock state a shopper meets.
    """
    mixed = (product_id * 2654435761) % 2**32  # Knuth's multiplicative hash spreads neighbouring ids
    if mixed % 11 == 3:
        return 0
    if mixed % 6 == 1:
        return 1 + mixed % 3
    return 4 + mixed % 27


def _description(colour: str, pattern: str, noun: str, features: list[str], usage: str) -> str:
    adjective = "" if pattern == "solid" else PATTERNS[pattern].lower() + " "
    if pattern == "polka":
        adjective = "polka dot "
    what = f"{colour.lower()} {adjective}{noun.lower()}"
    text = f"{what[0].upper()}{what[1:]}"
    if features:
        text += ", has " + ", ".join(features[:-1]) + (" and " if len(features) > 1 else "") + features[-1]
    text += f". Ideal for {usage.lower()} wear."
    return f"<p>{text}</p>"


def generate_demo_catalog(
    root: Path,
    *,
    count: int = 300,
    seed: int = 0,
    size: tuple[int, int] = (300, 400),
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Draw `count` products and write them to `root` in the Kaggle dataset layout.

    Returns `root`. The same seed gives byte-identical files; progress(1) is called
    after each product.
    """
    root = Path(root)
    if count < 0:
        raise ValueError("count must not be negative")
    size = (int(size[0]), int(size[1]))
    images, styles = root / "images", root / "styles"
    images.mkdir(parents=True, exist_ok=True)
    styles.mkdir(parents=True, exist_ok=True)
    rows = []
    # Everything random is planned first from one seeded RNG (each product then gets
    # its own drawing RNG), so output depends only on the seed.
    for plan in _plan_catalog(count, seed):
        rows.append(_write_product(plan, images, styles, size))
        if progress is not None:
            progress(1)

    with (root / "styles.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(COLUMNS)  # the real dataset's header, so the importer reads both alike
        writer.writerows(rows)
    return root


@dataclass(frozen=True)
class _Plan:
    id: int
    article: str
    gender: str
    colour: str
    pattern: str
    usage: str
    season: str
    year: int
    brand: str
    price: int
    discounted: int
    comma: str
    draw_seed: int


def _plan_catalog(count: int, seed: int) -> list[_Plan]:
    rng = random.Random(seed)
    articles = list(_DRAWERS)
    first_round = articles[:]
    rng.shuffle(first_round)
    weights = [_ARTICLES[a]["weight"] for a in articles]
    plans = []
    for number in range(1, count + 1):
        # the first products cover every article type once, the rest follow the weights
        article = first_round[number - 1] if number <= len(first_round) else rng.choices(articles, weights=weights)[0]
        spec = _ARTICLES[article]
        price, discounted = _price(rng, *spec["price"])
        plans.append(
            _Plan(
                id=number,
                article=article,
                gender=_weighted(rng, spec["genders"]),
                colour=_weighted(rng, spec["colours"]),
                pattern=_weighted(rng, spec["patterns"]),
                usage=_weighted(rng, spec["usages"]),
                season=_weighted(rng, spec.get("seasons", _SEASONS)),
                year=int(_weighted(rng, _YEARS)),
                brand=rng.choice(spec["brands"]),
                price=price,
                discounted=discounted,
                # a few names with a comma, to exercise CSV quoting
                comma=rng.choice(spec["comma"]) if number % 37 == 5 or rng.random() < 0.02 else "",
                draw_seed=rng.getrandbits(64),
            )
        )
    return plans


def _write_product(plan: _Plan, images: Path, styles: Path, size: tuple[int, int]) -> list:
    master, sub = _ARTICLE_INDEX[plan.article]
    spec = _ARTICLES[plan.article]
    image, features, secondary = _render(plan.article, plan.colour, plan.pattern, random.Random(plan.draw_seed), size)
    image.save(images / f"{plan.id}.jpg", "JPEG", quality=90)

    noun = spec["noun"]
    if plan.article == "Shirts":
        noun = "Formal Shirt" if plan.usage == "Formal" else "Casual Shirt"
    words = [plan.brand, plan.gender, plan.colour]
    if plan.pattern != "solid":
        words.append({"polka": "Polka Dot", "print": "Printed"}.get(plan.pattern, PATTERNS[plan.pattern]))
    words.append(noun)
    name = " ".join(words) + (f", {plan.comma}" if plan.comma else "")
    secondary_name = ""
    if plan.pattern != "solid":
        secondary_name = min(COLOURS, key=lambda n: _dist(COLOURS[n], secondary))
    data = {
        "id": plan.id,
        "price": plan.price,
        "discountedPrice": plan.discounted,
        "styleType": "P",
        "productDisplayName": name,
        "variantName": f"{plan.colour} {PATTERNS[plan.pattern]} {noun}",
        "brandName": plan.brand,
        "ageGroup": _AGE_GROUPS[plan.gender],
        "gender": plan.gender,
        "baseColour": plan.colour,
        "colour1": secondary_name,
        "colour2": "",
        "fashionType": "Fashion",
        "season": plan.season,
        "year": str(plan.year),
        "usage": plan.usage,
        "articleAttributes": {"Pattern": PATTERNS[plan.pattern]},
        "masterCategory": {"typeName": master, "active": True},
        "subCategory": {"typeName": sub, "active": True},
        "articleType": {"typeName": plan.article, "active": True},
        "productDescriptors": {
            "description": {
                "descriptorType": "description",
                "value": _description(plan.colour, plan.pattern, noun, features, plan.usage),
            }
        },
    }
    (styles / f"{plan.id}.json").write_text(json.dumps({"data": data}, ensure_ascii=False), encoding="utf-8")
    return [plan.id, plan.gender, master, sub, plan.article, plan.colour, plan.season, plan.year, plan.usage, name]
