"""`load_image` and the upload validator on bad and odd inputs, with images made here by Pillow."""

import io
import struct
import zlib

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from shop.images import ImageError, load_image, validate_image_file


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def noisy_jpeg(size: tuple[int, int] = (300, 300)) -> bytes:
    """A JPEG with real entropy data, so its first third ends inside the scan, not the header."""
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels), "JPEG", quality=90)


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose IHDR announces width x height RGB pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * (width * 3 + 1)))
        + chunk(b"IEND", b"")
    )


def close(pixel, expected, tolerance: int = 8) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


# --- bad input: each raises ImageError with a message a person understands ---


def test_empty_bytes_are_rejected():
    """Zero bytes are reported as an empty file."""
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")


def test_text_file_named_jpg_is_rejected(tmp_path):
    """A text file with a .jpg name is not taken for an image."""
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo\n")
    with pytest.raises(ImageError, match="not an image in a supported format"):
        load_image(path)


def test_truncated_jpeg_is_rejected():
    """The first third of a real JPEG is reported as truncated, not decoded with grey padding."""
    data = noisy_jpeg()
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(data[: len(data) // 3])


def test_jpeg_cut_inside_its_header_is_rejected():
    """A JPEG cut before its image data (Pillow fails while opening) is an ImageError, not an OSError."""
    data = encode(Image.new("RGB", (200, 100), (0, 128, 255)), "JPEG")
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(data[: len(data) // 3])


def test_decompression_bomb_png_is_rejected():
    """A few hundred bytes of PNG that claim 60000x60000 pixels are refused before decoding."""
    data = png_claiming_size(60000, 60000)
    assert len(data) < 1000
    with pytest.raises(ImageError, match="too many pixels"):
        load_image(data)


def test_image_over_max_pixels_is_rejected():
    """A real image one pixel over the given max_pixels is refused; at the limit it loads."""
    data = encode(Image.new("RGB", (100, 50), "red"), "PNG")
    with pytest.raises(ImageError, match="more than the limit of 4,999 pixels"):
        load_image(data, max_pixels=4999)
    assert load_image(data, max_pixels=5000).size == (100, 50)


def test_bytes_over_max_bytes_are_rejected():
    """Bytes longer than max_bytes are refused as too large."""
    data = noisy_jpeg((100, 100))
    with pytest.raises(ImageError, match="too large"):
        load_image(data, max_bytes=len(data) - 1)
    assert load_image(data, max_bytes=len(data)).size == (100, 100)


def test_path_over_max_bytes_is_rejected(tmp_path):
    """A file on disk bigger than max_bytes is refused as too large."""
    path = tmp_path / "big.jpg"
    path.write_bytes(noisy_jpeg((100, 100)))
    with pytest.raises(ImageError, match="too large"):
        load_image(path, max_bytes=1000)


def test_default_size_limit_is_ten_megabytes(settings):
    """IMAGE_MAX_UPLOAD_BYTES is 10 MB and is the limit used when none is passed."""
    assert settings.IMAGE_MAX_UPLOAD_BYTES == 10 * 1024 * 1024
    with pytest.raises(ImageError, match="too large .*the limit is 10 MB"):
        load_image(b"\xff" * (10 * 1024 * 1024 + 1))


def test_svg_is_rejected():
    """SVG (vector XML) is not a supported image."""
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    with pytest.raises(ImageError, match="not an image in a supported format"):
        load_image(svg)


def test_minimal_pdf_bytes_are_rejected():
    """A bare PDF header is not an image."""
    with pytest.raises(ImageError, match="not an image in a supported format"):
        load_image(b"%PDF-1.4\n%%EOF\n")


def test_pdf_made_by_pillow_is_rejected():
    """A real one-page PDF holding a picture is still refused."""
    with pytest.raises(ImageError, match="not an image in a supported format"):
        load_image(encode(Image.new("RGB", (20, 20), "blue"), "PDF"))


def test_format_pillow_reads_but_we_do_not_accept_is_rejected():
    """A readable but unsupported format (PPM) is named in the message."""
    with pytest.raises(ImageError, match="PPM images are not supported"):
        load_image(encode(Image.new("RGB", (10, 10), "blue"), "PPM"))


def test_missing_path_is_rejected(tmp_path):
    """A path that does not exist is reported as not found, with the file name."""
    with pytest.raises(ImageError, match="not found: absent.jpg"):
        load_image(tmp_path / "absent.jpg")


# --- odd but good input: each comes back as RGB with sensible pixels ---


def test_exif_orientation_is_applied():
    """A landscape JPEG tagged 'rotate 90° CW' (orientation 6) comes back portrait."""
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.new("RGB", (40, 20), "red"), "JPEG", exif=exif.tobytes())
    image = load_image(data)
    assert image.mode == "RGB"
    assert image.size == (20, 40)


def test_cmyk_jpeg_becomes_rgb():
    """A CMYK JPEG (print workflow) comes back RGB with its colour (magenta+yellow = red)."""
    data = encode(Image.new("CMYK", (10, 10), (0, 255, 255, 0)), "JPEG")
    image = load_image(data)
    assert image.mode == "RGB"
    assert close(image.getpixel((5, 5)), (255, 0, 0))


def test_palette_png_transparency_becomes_white():
    """Transparent palette entries turn white; opaque ones keep their colour."""
    image = Image.new("P", (10, 10), 0)
    image.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)  # index 0 black (transparent), 1 green
    image.putpixel((0, 0), 1)
    result = load_image(encode(image, "PNG", transparency=0))
    assert result.mode == "RGB"
    assert result.getpixel((5, 5)) == (255, 255, 255)
    assert result.getpixel((0, 0)) == (0, 200, 0)


def test_greyscale_becomes_rgb():
    """An 8-bit greyscale PNG comes back RGB with equal channels."""
    result = load_image(encode(Image.new("L", (10, 10), 77), "PNG"))
    assert result.mode == "RGB"
    assert result.getpixel((3, 3)) == (77, 77, 77)


def test_16_bit_greyscale_keeps_brightness():
    """A 16-bit greyscale PNG is scaled to 8 bits: white stays white, mid-grey stays mid-grey."""
    image = Image.new("I;16", (2, 1))
    image.putdata([65535, 32768])
    data = encode(image, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    result = load_image(data)
    assert result.mode == "RGB"
    assert result.getpixel((0, 0)) == (255, 255, 255)
    assert close(result.getpixel((1, 0)), (128, 128, 128), tolerance=1)


def test_dark_16_bit_greyscale_stays_dark():
    """A 16-bit image whose values all sit below 256 is nearly black, not bright."""
    image = Image.new("I;16", (2, 1))
    image.putdata([200, 0])
    result = load_image(encode(image, "PNG"))
    assert max(result.getpixel((0, 0))) <= 1 and result.getpixel((1, 0)) == (0, 0, 0)


def test_size_limit_message_names_a_small_limit():
    with pytest.raises(ImageError, match=r"limit is 0\.048 MB"):
        load_image(b"x" * 60_000, max_bytes=50_000)


def test_rgba_alpha_is_composited_on_white():
    """Transparent pixels become white, half-transparent black becomes mid-grey, opaque ones stay."""
    image = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    image.putpixel((0, 0), (0, 0, 255, 255))
    image.putpixel((1, 1), (0, 0, 0, 128))
    result = load_image(encode(image, "PNG"))
    assert result.mode == "RGB"
    assert result.getpixel((5, 5)) == (255, 255, 255)
    assert result.getpixel((0, 0)) == (0, 0, 255)
    assert close(result.getpixel((1, 1)), (127, 127, 127), tolerance=2)


def test_animated_gif_returns_first_frame():
    """An animated GIF red → blue returns the red first frame."""
    frames = [Image.new("RGB", (20, 20), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    result = load_image(data)
    assert result.mode == "RGB"
    assert result.getpixel((10, 10)) == (255, 0, 0)


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("WEBP", {"lossless": True}), ("BMP", {}), ("TIFF", {}), ("PNG", {}), ("JPEG", {"quality": 95})],
)
def test_other_formats_load_as_rgb(fmt, options):
    """WebP, BMP, TIFF, PNG and JPEG load as RGB with the colour they were saved with."""
    data = encode(Image.new("RGB", (16, 12), (10, 200, 30)), fmt, **options)
    result = load_image(data)
    assert result.mode == "RGB"
    assert result.size == (16, 12)
    assert close(result.getpixel((8, 6)), (10, 200, 30))


def test_accepts_bytes_path_and_uploaded_file(tmp_path):
    """Bytes, a path (str or Path) and a Django UploadedFile give the same picture."""
    data = encode(Image.new("RGB", (30, 20), (0, 0, 255)), "PNG")
    path = tmp_path / "blue.png"
    path.write_bytes(data)
    upload = SimpleUploadedFile("blue.png", data, content_type="image/png")
    for source in (data, path, str(path), upload):
        result = load_image(source)
        assert result.mode == "RGB"
        assert result.size == (30, 20)
        assert result.getpixel((15, 10)) == (0, 0, 255)


def test_uploaded_file_is_read_from_start_and_left_at_zero():
    """An upload already read part-way is decoded from its start and rewound afterwards."""
    data = encode(Image.new("RGB", (30, 20), "green"), "PNG")
    upload = SimpleUploadedFile("green.png", data, content_type="image/png")
    upload.read(10)
    assert load_image(upload).size == (30, 20)
    assert upload.tell() == 0
    assert upload.read() == data


# --- the Django validator ---


def test_validator_raises_validation_error_with_message():
    """validate_image_file turns an ImageError into a ValidationError carrying the same words."""
    upload = SimpleUploadedFile("notes.jpg", b"just text", content_type="image/jpeg")
    with pytest.raises(ValidationError) as caught:
        validate_image_file(upload)
    assert caught.value.code == "invalid_image"
    assert "not an image in a supported format" in caught.value.messages[0]


def test_validator_accepts_a_good_upload():
    """validate_image_file lets a real image through and leaves the file at position 0."""
    upload = SimpleUploadedFile("ok.png", encode(Image.new("RGB", (5, 5), "red"), "PNG"), content_type="image/png")
    validate_image_file(upload)
    assert upload.tell() == 0


def test_too_large_upload_reports_its_real_size(settings):
    """A 12 MB upload is "too large (12 MB)": the size, not the length of the capped read."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = noisy_jpeg((100, 100))
    upload = SimpleUploadedFile("big.jpg", data + b"\0" * (12 * 1024 * 1024 - len(data)))
    with pytest.raises(ImageError, match=r"too large \(12 MB\); the limit is 10 MB"):
        load_image(upload)
    stream = io.BytesIO(data + b"\0" * (11 * 1024 * 1024 - len(data)))  # a plain seekable stream
    with pytest.raises(ImageError, match=r"too large \(11 MB\)"):
        load_image(stream)
