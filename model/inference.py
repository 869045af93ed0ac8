"""Embedding images with a trained network: batched, in inference mode, on every core.

``embed_images(net, images)`` is the plain eager path that training and evaluation use. ``Embedder`` is the fast
path for index builds and requests; it takes the same uint8 images and gives the same unit-length rows, through
one of these backends (``bench/embed_speed.py`` measures each; ``docs/performance.md`` has the figures):

- ``"torch"``: eager PyTorch in inference mode, with batch norm folded into the convolutions (``torch.fx``) and
  the network and its input in channels-last memory format.
- ``"onnx"``: the network exported to ONNX (uint8 NHWC in, the cast, transpose and normalisation inside the
  graph) and run by ONNX Runtime. Needs the ``onnxruntime`` and ``onnx`` packages; without them ``"auto"`` falls
  back to ``"torch"``. ``Embedder.from_run`` caches the export next to the checkpoint (``best.onnx``), keyed by
  the checkpoint's SHA-256, so a retrained checkpoint is never served by a stale export.
- ``"openvino"``: the same ONNX export run by OpenVINO's CPU runtime (the runtime of the pretrained face models).
- ``"auto"``: the fastest exact (float32) backend available: ``"openvino"``, else ``"onnx"``, else ``"torch"``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import os
import threading
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from model.hashing import file_sha256
from model.transforms import to_float_batch

BACKENDS = ("auto", "torch", "onnx", "openvino")
ONNX_EXPORT_VERSION = "1"
"""Bump when the exported graph changes (inputs, opset, wrapper): older cached exports are then rebuilt."""
ONNX_OPSET = 17
_KEY = "doppelganger_key"


def embed_images(net: torch.nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """uint8 images (N, H, W, 3) -> float32 embeddings (N, D), with the network in eval mode."""
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = to_float_batch(images[start : start + batch_size]).to(device)
            out.append(net(batch).float().cpu().numpy())
    net.train(was_training)
    if not out:
        return np.zeros((0, getattr(net, "dim", 0)), dtype=np.float32)
    return np.concatenate(out)


class Uint8Input(nn.Module):
    """``net`` taking uint8 images (N, H, W, 3) directly: the cast to [0, 1] and the transpose happen inside, so an
    exported graph does them too."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.permute(0, 3, 1, 2).float() * (1.0 / 255.0))


def onnx_available() -> bool:
    """Whether ONNX Runtime and the ``onnx`` package import (both are needed for the ``"onnx"`` backend)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def fuse_conv_bn(net: nn.Module) -> nn.Module:
    """A copy of ``net`` (in eval mode) with every batch norm that follows a convolution folded into it."""
    from torch.fx.experimental.optimization import fuse

    return fuse(net.eval(), inplace=False)


def export_onnx(net: nn.Module, image_size: int, key: str = "") -> bytes:
    """``net`` as an ONNX model taking uint8 (N, S, S, 3) images, any N; ``key`` goes into its metadata."""
    import onnx

    wrapped = Uint8Input(net).eval()
    example = torch.zeros(2, image_size, image_size, 3, dtype=torch.uint8)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated, but needs nothing beyond torch
        torch.onnx.export(
            wrapped, (example,), buffer, dynamo=False, opset_version=ONNX_OPSET,
            input_names=["images"], output_names=["embeddings"],
            dynamic_axes={"images": {0: "batch"}, "embeddings": {0: "batch"}},
        )
    model = onnx.load_from_string(buffer.getvalue())
    entry = model.metadata_props.add()
    entry.key, entry.value = _KEY, key
    return model.SerializeToString()


def onnx_cache_key(checkpoint_sha256: str, image_size: int) -> str:
    return f"v{ONNX_EXPORT_VERSION}-opset{ONNX_OPSET}-size{image_size}-{checkpoint_sha256}"


class _OrtRunner:
    """ONNX Runtime running an exported model."""

    def __init__(self, model: bytes | str, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"images": batch})[0]


class _OpenVinoRunner:
    """OpenVINO's CPU runtime running the same exported ONNX model (it reads ONNX directly): about 2.5 times faster
    than ONNX Runtime on the MobileFaceNet-like face backbone here (``bench/embed_speed.py``)."""

    def __init__(self, model: bytes | str, threads: int) -> None:
        import openvino as ov

        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(model), "CPU", {"INFERENCE_NUM_THREADS": threads})
        self._local = threading.local()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        # An infer request holds its input and output tensors, so concurrent callers (the server's match threads)
        # each need their own: one shared request let a three-face match read another request's one-face output.
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return request.infer([batch])[self.compiled.output(0)].copy()


def _onnx_key_of(path: Path) -> str | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((entry.value for entry in model.metadata_props if entry.key == _KEY), None)


def cached_onnx_model(net: nn.Module, image_size: int, key: str, path: Path | None) -> bytes | str:
    """The ONNX export of ``net``: the file ``path`` when the export there carries ``key``, else exported afresh
    (and written to ``path`` aside-then-renamed, when given and writable)."""
    if path is not None and Path(path).exists():
        try:
            if _onnx_key_of(Path(path)) == key:
                return str(path)
        except Exception:  # a damaged or foreign file: export again
            pass
    model = export_onnx(net, image_size, key)
    if path is not None:
        tmp = Path(path).with_name(Path(path).name + f".{os.getpid()}.tmp")
        try:
            tmp.write_bytes(model)
            os.replace(tmp, path)
        except OSError:  # a read-only run directory: keep the export in memory
            with contextlib.suppress(OSError):
                tmp.unlink()
    return model


def openvino_available() -> bool:
    """Whether OpenVINO's runtime and the ``onnx`` package (for the export) import."""
    try:
        import onnx  # noqa: F401
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


class Embedder:
    """uint8 images (N, S, S, 3) -> float32 unit-length embeddings (N, dim), in batches, on a chosen backend.

    ``backend``: ``"auto"``, ``"torch"``, ``"onnx"`` or ``"openvino"`` (module docstring). ``threads``: 0 for every core.
    ``channels_last`` and ``fuse`` tune the ``"torch"`` backend (``bench/embed_speed.py`` measures each).
    ``onnx_path`` and ``onnx_key`` cache the ONNX export (``from_run`` sets them). Int8 ONNX models are not
    offered: static and dynamic quantisation cost 0.8 and 2.2 points of 1-NN accuracy on LFW-62.
    """

    def __init__(
        self,
        net: nn.Module,
        image_size: int,
        backend: str = "auto",
        threads: int = 0,
        batch_size: int = 64,
        channels_last: bool = True,
        fuse: bool = True,
        onnx_path: Path | None = None,
        onnx_key: str | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.dim = int(getattr(net, "dim"))
        self.image_size = int(image_size)
        self.threads = threads if threads > 0 else (os.cpu_count() or 1)
        self.batch_size = batch_size
        net = copy.deepcopy(net).eval()  # the caller's network keeps its mode and memory format
        if backend == "auto":
            backend = "openvino" if openvino_available() else "onnx" if onnx_available() else "torch"
        elif (backend == "onnx" and not onnx_available()) or (backend == "openvino" and not openvino_available()):
            warnings.warn(f"the {backend} backend's packages are not installed: embedding with torch", stacklevel=2)
            backend = "torch"
        self.backend = backend
        self._session: _OrtRunner | _OpenVinoRunner | None = None
        self._module: nn.Module | None = None
        self._channels_last = channels_last
        if backend in ("onnx", "openvino"):
            key = onnx_key or onnx_cache_key(_state_sha256(net), self.image_size)
            model = cached_onnx_model(net, self.image_size, key, onnx_path)
            self._session = (_OrtRunner if backend == "onnx" else _OpenVinoRunner)(model, self.threads)
        else:
            module = fuse_conv_bn(net) if fuse else net
            module.requires_grad_(False)
            if channels_last:
                module = module.to(memory_format=torch.channels_last)
            self._module = module

    @classmethod
    def from_run(cls, run_dir, backend: str = "auto", threads: int = 0, which: str = "best", **options) -> "Embedder":
        """The embedder of a run's checkpoint ``which``; the ONNX export is cached as ``checkpoints/<which>.onnx``."""
        from model.run import RunDir

        run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
        config = run.config()
        checkpoint = run.checkpoint(which)
        net = run.load_model(which)
        if backend in ("auto", "onnx", "openvino") and onnx_available():
            options.setdefault("onnx_path", checkpoint.with_suffix(".onnx"))
            options.setdefault("onnx_key", onnx_cache_key(file_sha256(checkpoint), config.image_size))
        return cls(net, config.image_size, backend=backend, threads=threads, **options)

    def __repr__(self) -> str:
        return f"Embedder(backend={self.backend!r}, dim={self.dim}, image_size={self.image_size}, threads={self.threads})"

    def embed(self, images: np.ndarray) -> np.ndarray:
        """uint8 images (N, S, S, 3) -> float32 (N, dim), rows of unit length."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[1:] != (self.image_size, self.image_size, 3):
            raise ValueError(f"expected uint8 images (N, {self.image_size}, {self.image_size}, 3), got {images.shape}")
        if images.dtype != np.uint8:
            raise ValueError(f"expected uint8 images, got {images.dtype}")
        out = np.empty((len(images), self.dim), dtype=np.float32)
        if self._session is not None:
            for start in range(0, len(images), self.batch_size):
                batch = np.ascontiguousarray(images[start : start + self.batch_size])
                out[start : start + len(batch)] = self._session(batch)
            return out
        with torch.inference_mode(), _torch_threads(self.threads):
            for start in range(0, len(images), self.batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(images[start : start + self.batch_size]))
                # NHWC memory permuted to NCHW is already channels-last; .float() keeps that layout.
                x = batch.permute(0, 3, 1, 2).float().mul_(1.0 / 255.0)
                if not self._channels_last:
                    x = x.contiguous()
                out[start : start + len(batch)] = self._module(x).numpy()
        return out

    __call__ = embed


def _state_sha256(net: nn.Module) -> str:
    """A hash of the network's weights: the ONNX cache key when no checkpoint file is at hand."""
    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
