"""Augmented views of catalogue photos, for training search by photo across domains.

The catalogue is studio photography and shoppers' photos are not. The category classifier is
fitted on the catalogue's vectors and on vectors of these views of the same images, so it learns
kinds that survive a change of background, framing, light and camera. The views are deliberately
generic (random crops, small rotations and perspective, colour jitter, blur, noise, JPEG, the
studio background swapped for a gradient, smooth noise or a piece of another catalogue photo):
they share no code with the evaluation's imitated shopper photos (evaluation/photo_queries.py),
so a gain measured on those is not the classifier learning how they were made.

Pure functions of the image and a numpy Generator: the same seed gives the same view.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

# A pixel this bright in every channel, and joined to the border, is studio background.
STUDIO_WHITE = 232
# Shares of the views whose background is replaced, and by what.
BACKGROUND_SHARE = 0.75
CROP_SCALE = (0.35, 1.0)
CROP_ASPECT = (3 / 4, 4 / 3)
MAX_ROTATION_DEGREES = 15.0
MAX_PERSPECTIVE = 0.08  # corner shift as a share of the side


def studio_background(image: Image.Image) -> np.ndarray:
    """Boolean (H, W): near-white pixels reachable from the border through near-white pixels
    (a white garment inside the frame is kept)."""
    from scipy import ndimage

    pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    white = (pixels >= STUDIO_WHITE).all(axis=2)
    regions, _ = ndimage.label(white)
    border = np.unique(np.concatenate([regions[0, :], regions[-1, :], regions[:, 0], regions[:, -1]]))
    return np.isin(regions, border[border > 0])


def _gradient(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    start, end = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    angle = rng.uniform(0, np.pi)
    ys, xs = np.mgrid[0:height, 0:width]
    t = (np.cos(angle) * xs / max(width, 1) + np.sin(angle) * ys / max(height, 1)).astype(np.float32)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return start * (1 - t[..., None]) + end * t[..., None]


def _smooth_field(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Low-frequency coloured noise: a few random pixels blown up with bicubic resampling."""
    cells = int(rng.integers(2, 9))
    base = rng.uniform(30, 225, 3)
    small = np.clip(base + rng.normal(0, rng.uniform(8, 45), (cells, cells, 3)), 0, 255).astype(np.uint8)
    field = np.asarray(Image.fromarray(small).resize((width, height), Image.BICUBIC), dtype=np.float32)
    return field + rng.normal(0, rng.uniform(0, 6), (height, width, 1))


def _other_photo(rng: np.random.Generator, height: int, width: int, others: Sequence[Image.Image]) -> np.ndarray:
    """A random piece of another catalogue photo, blurred: clutter that is not a garment of this kind."""
    other = others[int(rng.integers(len(others)))].convert("RGB")
    scale = rng.uniform(0.3, 0.7)
    w, h = max(8, round(other.width * scale)), max(8, round(other.height * scale))
    left, top = int(rng.integers(0, other.width - w + 1)), int(rng.integers(0, other.height - h + 1))
    piece = other.crop((left, top, left + w, top + h)).resize((width, height), Image.BILINEAR)
    piece = piece.filter(ImageFilter.GaussianBlur(rng.uniform(1.5, 5)))
    return np.asarray(piece, dtype=np.float32)


def background_replace(image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image] = ()) -> Image.Image:
    """The image with its studio background replaced by a gradient, smooth noise or (when `others`
    are given) a blurred piece of another photo; unchanged when it has no studio background."""
    image = image.convert("RGB")
    mask = studio_background(image)
    if mask.mean() < 0.05:
        return image
    height, width = mask.shape
    fills = ["gradient", "noise", *(["other"] if others else [])]
    fill = fills[int(rng.integers(len(fills)))]
    if fill == "gradient":
        background = _gradient(rng, height, width)
    elif fill == "noise":
        background = _smooth_field(rng, height, width)
    else:
        background = _other_photo(rng, height, width, others)
    # A soft edge, so the cut-out does not leave a hard white rim.
    alpha = np.asarray(Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2)))
    alpha = (alpha.astype(np.float32) / 255)[..., None]
    pixels = np.asarray(image, dtype=np.float32)
    return Image.fromarray(np.clip(pixels * (1 - alpha) + background * alpha, 0, 255).astype(np.uint8))


def _resized_crop(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    width, height = image.size
    for _ in range(10):
        area = width * height * rng.uniform(*CROP_SCALE)
        aspect = np.exp(rng.uniform(np.log(CROP_ASPECT[0]), np.log(CROP_ASPECT[1])))
        w, h = round(np.sqrt(area * aspect)), round(np.sqrt(area / aspect))
        if 0 < w <= width and 0 < h <= height:
            left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            return image.crop((left, top, left + w, top + h))
    return image


def _perspective_coefficients(target: np.ndarray, source: np.ndarray) -> tuple[float, ...]:
    """PIL's 8 PERSPECTIVE coefficients mapping output corners `target` to input corners `source`."""
    rows = []
    for (x, y), (u, v) in zip(target, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    solution = np.linalg.solve(np.asarray(rows, dtype=np.float64), source.reshape(8).astype(np.float64))
    return tuple(float(value) for value in solution)


def _geometry(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    fill = tuple(int(value) for value in np.asarray(image).reshape(-1, 3).mean(axis=0))
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    if rng.random() < 0.6:
        image = image.rotate(rng.uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES), Image.BILINEAR, fillcolor=fill)
    if rng.random() < 0.5:
        width, height = image.size
        corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
        shifted = corners + rng.uniform(-MAX_PERSPECTIVE, MAX_PERSPECTIVE, (4, 2)) * [width, height]
        image = image.transform(
            image.size, Image.PERSPECTIVE, _perspective_coefficients(corners, shifted), Image.BILINEAR, fillcolor=fill
        )
    return _resized_crop(image, rng)


def _photometric(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.6, 1.3))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.7, 1.3))
    image = ImageEnhance.Color(image).enhance(rng.uniform(0.6, 1.4))
    if rng.random() < 0.1:
        image = ImageOps.grayscale(image).convert("RGB")
    pixels = np.asarray(image, dtype=np.float32)
    if rng.random() < 0.5:  # a colour cast, as from a lamp or a window
        pixels = pixels * rng.uniform(0.85, 1.15, 3)
    if rng.random() < 0.5:
        pixels = pixels + rng.normal(0, rng.uniform(2, 10), pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.8)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(35, 91)))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def augmented_view(image: Image.Image, rng: np.random.Generator, others: Sequence[Image.Image] = ()) -> Image.Image:
    """One random view of a catalogue photo as a shopper's camera might give it (RGB)."""
    image = image.convert("RGB")
    if rng.random() < BACKGROUND_SHARE:
        image = background_replace(image, rng, others)
    return _photometric(_geometry(image, rng), rng)
