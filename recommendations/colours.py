"""A product's colour for ranking similar items: measured from its image, or the catalogue's own.

A shopper looking at a red dress expects red dresses first; the image embedding alone agrees on
the base colour only about a quarter of the time (docs/evaluation.md). Pure functions, no database.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Centre region of the image that is measured: product photos put the item in the middle, with
# background (and often a model's face and legs) around it.
CENTRE_BOX = (0.25, 0.2, 0.75, 0.8)  # left, top, right, bottom as shares of width and height
MEASURE_SIZE = 96  # the image is shrunk to this many pixels on its longer side first
# Pixels this light and this grey are taken for the studio background.
BACKGROUND_L = 92.0
BACKGROUND_CHROMA = 6.0
# Lab bins for the dominant colour (L, a, b widths).
BIN = np.array([12.0, 16.0, 16.0])
# Two measured colours this far apart in Lab (CIE76) agree not at all; closer, linearly more.
COLOUR_DISTANCE_SCALE = 40.0


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB values 0-255, shape (..., 3), to CIE Lab (D65)."""
    c = rgb.astype(np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array(
        [[0.4124564, 0.2126729, 0.0193339], [0.3575761, 0.7151522, 0.1191920], [0.1804375, 0.0721750, 0.9503041]]
    )
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def image_colour_lab(image: Image.Image) -> tuple[float, float, float]:
    """The dominant colour of the item in a product photo, as CIE Lab.

    The centre of the image, without background-like pixels (light and grey) unless that is all
    there is (a white shirt); the most populated coarse Lab bin, averaged.
    """
    rgb = image.convert("RGB")
    rgb.thumbnail((MEASURE_SIZE, MEASURE_SIZE))
    width, height = rgb.size
    left, top, right, bottom = CENTRE_BOX
    box = (int(width * left), int(height * top), max(int(width * right), 1), max(int(height * bottom), 1))
    lab = _srgb_to_lab(np.asarray(rgb.crop(box))).reshape(-1, 3)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    item = lab[~((lab[:, 0] > BACKGROUND_L) & (chroma < BACKGROUND_CHROMA))]
    if len(item) < 0.05 * len(lab):
        item = lab
    bins = np.floor(item / BIN).astype(np.int64)
    keys, inverse, counts = np.unique(bins, axis=0, return_inverse=True, return_counts=True)
    dominant = item[inverse.reshape(-1) == int(np.argmax(counts))].mean(axis=0)
    return (round(float(dominant[0]), 2), round(float(dominant[1]), 2), round(float(dominant[2]), 2))


def colour_agreement(
    name: str, lab: tuple[float, float, float] | None, other_name: str, other_lab: tuple[float, float, float] | None
) -> float:
    """How far two products agree on colour, 0 to 1.

    The catalogue's colour names when both have one (1 for the same name, else 0); otherwise
    the colours measured from their images, 1 for the same and 0 from COLOUR_DISTANCE_SCALE apart;
    0 when either has neither.
    """
    name, other_name = name.strip().lower(), other_name.strip().lower()
    if name and other_name:
        return 1.0 if name == other_name else 0.0
    if lab is None or other_lab is None:
        return 0.0
    distance = float(np.linalg.norm(np.subtract(lab, other_lab)))
    return max(0.0, 1.0 - distance / COLOUR_DISTANCE_SCALE)
