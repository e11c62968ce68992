"""Decode and check images from uploads and imports, with messages a person understands.

Every entry point (admin, search form, API, importer, embedding task) goes through
`load_image`, so an image that passes here is one the model can use.
"""

from __future__ import annotations

import base64
import contextlib
import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = {"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "MPO"}
# The extension a stored image gets, from the format Pillow finds in its bytes (never the name it
# was uploaded under: "evil.html" would be served as a page from the shop's own origin).
FORMAT_EXTENSIONS = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "PNG": "png",
    "GIF": "gif",
    "WEBP": "webp",
    "BMP": "bmp",
    "TIFF": "tif",
}
IMAGE_EXTENSIONS = frozenset(FORMAT_EXTENSIONS.values()) | {"jpeg", "tiff"}
ACCEPTED_LABEL = "JPEG, PNG, GIF, WebP, BMP or TIFF"


class ImageError(ValueError):
    """An image that cannot be used, with the reason in plain words."""


def _read_bytes(source: str | Path | bytes | BinaryIO, max_bytes: int) -> bytes:
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"Image file not found: {path.name}.")
        if path.stat().st_size > max_bytes:
            raise ImageError(_too_big_message(path.stat().st_size, max_bytes))
        data = path.read_bytes()
    else:
        size = _stream_size(source)
        if size is not None and size > max_bytes:
            raise ImageError(_too_big_message(size, max_bytes))
        if hasattr(source, "seek"):
            source.seek(0)
        data = source.read(max_bytes + 1)  # capped: a stream of unknown size is never read whole
        if hasattr(source, "seek"):
            source.seek(0)
        if len(data) > max_bytes:
            # Only the capped read's length is known here, not the size: do not report it as one.
            raise ImageError(
                f"The file is too large (over {_megabytes(max_bytes)}); the limit is {_megabytes(max_bytes)}."
            )
    if not data:
        raise ImageError("The file is empty.")
    if len(data) > max_bytes:
        raise ImageError(_too_big_message(len(data), max_bytes))
    return data


def _stream_size(source: BinaryIO) -> int | None:
    """The full size of an upload or seekable file, without reading it; None when unknown."""
    size = getattr(source, "size", None)  # Django's UploadedFile and File
    if isinstance(size, int):
        return size
    try:
        source.seek(0, io.SEEK_END)
        size = source.tell()
        source.seek(0)
    except (AttributeError, OSError, ValueError):
        return None
    return size


def _too_big_message(size: int, max_bytes: int) -> str:
    shown, limit = _megabytes(size), _megabytes(max_bytes)
    if shown == limit:  # just over the limit: whole megabytes would read as the limit itself
        shown = f"{size:,} bytes"
    return f"The file is too large ({shown}); the limit is {limit}."


def _megabytes(size: int) -> str:
    value = size / 1_048_576
    if value >= 10:
        return f"{value:.1f}".removesuffix(".0") + " MB"
    return f"{value:.2g} MB"


def load_image(
    source: str | Path | bytes | BinaryIO,
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> Image.Image:
    """Decode an image fully and return it upright, in RGB, first frame only.

    Raises ImageError with a clear message for empty, oversized, truncated, unsupported
    or non-image files and for decompression bombs.
    """
    max_bytes = max_bytes or settings.IMAGE_MAX_UPLOAD_BYTES
    max_pixels = max_pixels or settings.IMAGE_MAX_PIXELS
    data = _read_bytes(source, max_bytes)
    with warnings.catch_warnings():
        # Pillow warns, then raises, on huge images; both mean "too many pixels" here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"The image has too many pixels; the limit is {max_pixels:,}.") from None
        except UnidentifiedImageError:
            raise ImageError(f"The file is not an image in a supported format ({ACCEPTED_LABEL}).") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            # A known format whose header is cut short or damaged (e.g. a truncated JPEG).
            raise ImageError("The image is truncated or corrupt and cannot be decoded.") from exc
        if image.format not in ACCEPTED_FORMATS:
            raise ImageError(f"{image.format} images are not supported; use {ACCEPTED_LABEL}.")
        width, height = image.size
        if width * height > max_pixels:
            raise ImageError(f"The image is {width}×{height} pixels, more than the limit of {max_pixels:,} pixels.")
        if width < 1 or height < 1:
            raise ImageError("The image has no pixels.")
        try:
            image.seek(0)  # animated GIF/WebP: the first frame
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageError("The image is truncated or corrupt and cannot be decoded.") from exc
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    with contextlib.suppress(Exception):  # a broken EXIF block must not lose the picture
        image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        pixels = np.asarray(image, dtype=np.float64)
        # 16-bit modes span 0-65535 even when an image is dark; plain "I" is often 8-bit data.
        top = 65535.0 if image.mode.startswith("I;16") or pixels.max() > 255 else 255.0
        image = Image.fromarray(np.clip(pixels * (255.0 / top), 0, 255).astype(np.uint8), "L")
    elif image.mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        span = max(pixels.max() - pixels.min(), 1e-9)
        image = Image.fromarray(((pixels - pixels.min()) * (255.0 / span)).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent areas become white, like a product photo's studio background.
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def validate_image_file(file) -> None:
    """Django validator for image uploads (admin and forms)."""
    try:
        load_image(file)
    except ImageError as exc:
        raise ValidationError(str(exc), code="invalid_image") from None


def stored_image_name(name: str, file: BinaryIO) -> str:
    """`name` with the extension of the image format Pillow detects in `file` ("evil.html" holding a
    GIF becomes "evil.gif"); ".bin" when the content is no accepted image, which is never served."""
    position = file.tell() if hasattr(file, "tell") else 0
    try:
        file.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                image_format = image.format
    except Exception:  # noqa: BLE001  (unreadable content: no image extension, whatever the reason)
        image_format = None
    finally:
        file.seek(position)
    stem = Path(name).stem or "image"
    return f"{stem}.{FORMAT_EXTENSIONS.get(image_format, 'bin')}"


def image_jpeg_base64(image: Image.Image, *, max_side: int) -> str:
    """A JPEG of the image fitted into max_side x max_side (never enlarged), base64-encoded: small
    enough to show as a data: URI and to send back with a form, so nothing is stored."""
    copy = image.convert("RGB")
    copy.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    copy.save(buffer, "JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
