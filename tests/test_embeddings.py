"""Image embeddings: offline weights, ImageNet sanity, determinism, near-duplicates,
the TFLite default against the Keras reference.

No Django or database needed.
"""

import io
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageDraw
import pytest
import skimage.data

from recommendations import embeddings
from recommendations.embeddings import (
    EFFICIENTNET_LITE0,
    MODEL_DIMENSIONS,
    RESNET50,
    get_embedder,
    imagenet_top_classes,
    preprocess,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lite0():
    return get_embedder(EFFICIENTNET_LITE0)


@pytest.fixture(scope="module")
def cat():
    # chelsea.png and coffee.png ship inside scikit-image (no pooch download).
    return PIL.Image.fromarray(skimage.data.chelsea())


@pytest.fixture(scope="module")
def coffee():
    return PIL.Image.fromarray(skimage.data.coffee())


def scene(seed: int, size: tuple[int, int] = (320, 256)) -> PIL.Image.Image:
    """A random picture of coloured shapes and stripes on a coloured background."""
    rng = np.random.default_rng(seed)
    width, height = size

    def colour() -> tuple[int, int, int]:
        return tuple(int(c) for c in rng.integers(0, 256, 3))

    image = PIL.Image.new("RGB", size, colour())
    draw = PIL.ImageDraw.Draw(image)
    stripe = colour()
    step = int(rng.integers(12, 40))
    for x in range(-height, width, step):
        draw.line([(x, 0), (x + height, height)], fill=stripe, width=int(rng.integers(2, 8)))
    for _ in range(int(rng.integers(3, 7))):
        x0, y0 = int(rng.integers(0, width - 60)), int(rng.integers(0, height - 60))
        w, h = int(rng.integers(40, 140)), int(rng.integers(40, 140))
        box = [x0, y0, x0 + w, y0 + h]
        shape = rng.integers(0, 3)
        if shape == 0:
            draw.ellipse(box, fill=colour(), outline=colour(), width=3)
        elif shape == 1:
            draw.rectangle(box, fill=colour())
        else:
            draw.polygon([(x0, y0 + h), (x0 + w // 2, y0), (x0 + w, y0 + h)], fill=colour())
    return image


def crop90(image: PIL.Image.Image) -> PIL.Image.Image:
    width, height = image.size
    return image.crop((width // 20, height // 20, width - width // 20, height - height // 20))


def jpeg60(image: PIL.Image.Image) -> PIL.Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=60)
    buffer.seek(0)
    return PIL.Image.open(buffer).convert("RGB")


# -- weights -----------------------------------------------------------------


def test_lite0_weights_load_offline_without_torch():
    weights = embeddings.load_lite0_weights()
    assert len(weights) == 296
    floats = [w for w in weights.values() if w.dtype == np.float32]
    assert sum(w.size for w in floats) == 4_694_024
    assert weights["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert weights["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert weights["_fc.weight"].shape == (1000, 1280)
    assert all(np.isfinite(w).all() for w in floats)
    assert "torch" not in sys.modules


def test_checkpoint_reader_refuses_unexpected_globals(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, fh, protocol=2)
        pickle.dump(print, fh, protocol=2)
    with pytest.raises(pickle.UnpicklingError):
        embeddings.load_torch_legacy_state_dict(path)


def test_importing_module_does_not_import_tensorflow():
    code = (
        "import sys, recommendations.embeddings; "
        "assert not {'tensorflow', 'keras'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)


# -- preprocessing -----------------------------------------------------------


def test_preprocess_shape_and_range(cat):
    x = preprocess(cat, EFFICIENTNET_LITE0)
    assert x.shape == (224, 224, 3)
    assert x.dtype == np.float32
    assert -1.0 <= x.min() < -0.5 and 0.5 < x.max() <= 128 / 128
    grey = preprocess(PIL.Image.new("L", (50, 80), 127), EFFICIENTNET_LITE0)
    assert grey.shape == (224, 224, 3) and np.all(grey == 0.0)


# -- ImageNet sanity ---------------------------------------------------------


def test_imagenet_classes_cat(lite0, cat):
    # tabby 281, tiger cat 282, Egyptian cat 285
    assert {281, 282, 285} & set(imagenet_top_classes(cat))


def test_imagenet_classes_coffee(lite0, coffee):
    # coffee mug 504, espresso 967, cup 968
    assert {504, 967, 968} & set(imagenet_top_classes(coffee))


# -- embeddings --------------------------------------------------------------


def test_shape_norm_and_empty(lite0, cat, coffee):
    assert lite0.name == EFFICIENTNET_LITE0 and lite0.dimensions == 1280
    vectors = lite0.embed([cat, coffee, scene(1)])
    assert vectors.shape == (3, 1280) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    empty = lite0.embed([])
    assert empty.shape == (0, 1280) and empty.dtype == np.float32


def test_cached_per_process(lite0):
    assert get_embedder(EFFICIENTNET_LITE0) is lite0
    assert lite0.backend == "tflite"
    assert get_embedder(EFFICIENTNET_LITE0, backend="tflite") is lite0


def test_tflite_matches_keras_reference(lite0, cat, coffee):
    # Measured on the 2,946 fashion-sample images: max |difference| 1.19e-6 per component of
    # the normalised vectors, cosine 1.000000, same precision@5. Different kernels (XNNPACK vs
    # oneDNN, batch norm folded into the convolutions) round differently, so not bitwise.
    keras_model = get_embedder(EFFICIENTNET_LITE0, backend="keras")
    assert keras_model.backend == "keras" and keras_model is not lite0
    images = [cat, coffee, *(scene(seed) for seed in range(20, 26))]
    fast, reference = lite0.embed(images), keras_model.embed(images)
    assert np.abs(fast - reference).max() < 1e-5
    assert np.sum(fast * reference, axis=1).min() > 0.99999


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="not available"):
        get_embedder(RESNET50, backend="tflite")
    with pytest.raises(ValueError, match="not available"):
        get_embedder(EFFICIENTNET_LITE0, backend="onnx")


def test_converted_model_is_cached_and_safe_to_convert_concurrently(tmp_path):
    # Two processes converting into an empty cache at once must both end with a whole file.
    code = (
        "import sys; from pathlib import Path; from recommendations import embeddings as e; "
        "print(e.lite0_tflite_path(Path(sys.argv[1])))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    paths = {proc.communicate(timeout=600)[0].strip() for proc in procs}
    assert all(proc.returncode == 0 for proc in procs)
    assert len(paths) == 1
    (path,) = paths
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == [Path(path).name]  # no temporary left behind
    assert Path(path).name.startswith("efficientnet_lite0-") and Path(path).stat().st_size > 10_000_000
    assert embeddings.lite0_tflite_path(tmp_path) == Path(path)  # cached: no new conversion
    assert Path(path).stat().st_mtime_ns == files[0].stat().st_mtime_ns


def test_deterministic_across_calls_and_batches(lite0, cat, coffee):
    # Bitwise: every image runs alone on a single-threaded interpreter, so neither its batch
    # companions, its position nor the thread that ran it can change a bit.
    images = [scene(2), cat, scene(3), coffee, scene(4)]
    alone = lite0.embed([cat])
    assert np.array_equal(alone, lite0.embed([cat]))
    for batch_size in (1, 2, 3, 32):
        vectors = lite0.embed(images, batch_size=batch_size)
        assert np.array_equal(vectors[1], alone[0]), batch_size
    assert np.array_equal(lite0.embed(images[::-1], batch_size=4)[::-1], lite0.embed(images))


def test_thread_safe(lite0, cat):
    reference = lite0.embed([cat])
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: get_embedder(EFFICIENTNET_LITE0).embed([cat]), range(4)))
    assert all(np.array_equal(r, reference) for r in results)


def test_near_duplicates_are_nearer_than_different_images(lite0):
    originals = [scene(seed) for seed in range(10, 16)]
    variants = {
        "crop90": [crop90(im) for im in originals],
        "hflip": [im.transpose(PIL.Image.Transpose.FLIP_LEFT_RIGHT) for im in originals],
        "jpeg60": [jpeg60(im) for im in originals],
    }
    base = lite0.embed(originals)
    cross = base @ base.T
    np.fill_diagonal(cross, -1.0)
    nearest_other = cross.max(axis=1)
    for name, images in variants.items():
        similarity = np.sum(base * lite0.embed(images), axis=1)
        assert np.all(similarity > nearest_other), (name, similarity, nearest_other)


# -- ResNet50 ----------------------------------------------------------------


def test_resnet50_plumbing_random_weights(cat, coffee):
    resnet = get_embedder(RESNET50, resnet50_weights=None)
    assert resnet.name == RESNET50 and resnet.dimensions == MODEL_DIMENSIONS[RESNET50] == 2048
    x = preprocess(cat, RESNET50)
    assert x.shape == (224, 224, 3) and x.dtype == np.float32
    vectors = resnet.embed([cat, coffee, scene(5)], batch_size=2)
    assert vectors.shape == (3, 2048) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert resnet.embed([]).shape == (0, 2048)
    assert np.array_equal(resnet.embed([coffee]), vectors[1:2])
    assert get_embedder(RESNET50, resnet50_weights=None) is resnet


def test_embed_one_gives_the_bits_of_embed(lite0, cat, coffee):
    # The service embeds one image per call on its own threads; it must store what embed() gives.
    keras_model = get_embedder(EFFICIENTNET_LITE0, backend="keras")
    for embedder in (lite0, keras_model):
        images = [cat, coffee, scene(7)]
        batch = embedder.embed(images)
        assert embedder.parallel == 2
        for image, row in zip(images, batch, strict=True):
            one = embedder.embed_one(image)
            assert one.shape == (1280,) and one.dtype == np.float32
            assert np.array_equal(one, row), embedder.backend
