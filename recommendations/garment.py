"""Look at the garment, not the room: a box around what differs from the photo's background."""

from __future__ import annotations

import numpy as np
from PIL import Image

# The background is what the photo's outer band looks like; a pixel is foreground when it differs
# from the band's median colour by more than the band's own spread (textured floors, sheets) allows.
_WORK_SIDE = 96
_BAND = 0.06
_MARGIN = 0.08


def garment_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) around the item in `image`, or None when no clear item stands out."""
    width, height = image.size
    scale = _WORK_SIDE / max(width, height)
    small = image.convert("RGB").resize((max(1, round(width * scale)), max(1, round(height * scale))))
    pixels = np.asarray(small, dtype=np.float32)
    h, w = pixels.shape[:2]
    if min(h, w) < 8:
        return None
    band = max(1, round(min(h, w) * _BAND))
    border = np.concatenate(
        [
            pixels[:band].reshape(-1, 3),
            pixels[-band:].reshape(-1, 3),
            pixels[:, :band].reshape(-1, 3),
            pixels[:, -band:].reshape(-1, 3),
        ]
    )
    background = np.median(border, axis=0)
    spread = np.linalg.norm(border - background, axis=1)
    threshold = max(float(np.percentile(spread, 90)) * 1.5, 24.0)
    mask = np.linalg.norm(pixels - background, axis=2) > threshold
    share = float(mask.mean())
    if share < 0.03 or share > 0.85:  # nothing stands out, or the item fills the frame already
        return None
    ys, xs = np.nonzero(mask)
    x0, x1 = np.percentile(xs, [2, 98])
    y0, y1 = np.percentile(ys, [2, 98])
    pad_x, pad_y = (x1 - x0) * _MARGIN, (y1 - y0) * _MARGIN
    box = (
        max(0, int((x0 - pad_x) / scale)),
        max(0, int((y0 - pad_y) / scale)),
        min(width, int(np.ceil((x1 + 1 + pad_x) / scale))),
        min(height, int(np.ceil((y1 + 1 + pad_y) / scale))),
    )
    if box[2] - box[0] < 16 or box[3] - box[1] < 16:
        return None
    return box


def garment_crop(image: Image.Image) -> Image.Image:
    """The part of the photo around the item (the whole photo when none stands out)."""
    box = garment_box(image)
    return image.crop(box) if box else image


def square_around(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The square (as far as the photo allows) centred on `box`, its side the box's longer side.

    The model sees the centre square of what it is given: a tall garment box would lose its top
    and bottom; the square keeps the whole garment and a little of what surrounds it.
    """
    left, top, right, bottom = box
    width, height = size
    side = max(right - left, bottom - top)
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    side_x, side_y = min(side, width), min(side, height)
    x0 = int(round(min(max(0.0, centre_x - side_x / 2), width - side_x)))
    y0 = int(round(min(max(0.0, centre_y - side_y / 2), height - side_y)))
    return (x0, y0, x0 + int(side_x), y0 + int(side_y))
