"""Embedder: every backend gives the eager embeddings; the ONNX export is cached per checkpoint; no ONNX, no error."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch

from model.inference import Embedder, embed_images, onnx_available, openvino_available
from model.networks import EmbeddingNet

needs_onnx = pytest.mark.skipif(not onnx_available(), reason="onnxruntime or onnx is not installed")


def _images(n: int = 37, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def _net(backbone: str, dim: int = 16, seed: int = 0) -> EmbeddingNet:
    """A random network whose batch norms have non-trivial statistics (so folding them is really tested, and an
    untrained MobileNetV2 does not shrink every input to nothing)."""
    torch.manual_seed(seed)
    net = EmbeddingNet(backbone, dim=dim, pretrained=False)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    return net.eval()


@pytest.mark.parametrize("backbone", ["small_cnn", "mobilenet_v2"])
@pytest.mark.parametrize("channels_last", [True, False])
def test_torch_backend_matches_eager(backbone: str, channels_last: bool) -> None:
    net, images = _net(backbone), _images()
    expected = embed_images(net, images)
    embedder = Embedder(net, 32, backend="torch", batch_size=16, channels_last=channels_last)
    got = embedder.embed(images)
    assert embedder.backend == "torch" and embedder.dim == 16 and embedder.image_size == 32
    assert got.dtype == np.float32 and got.shape == (len(images), 16)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # The network itself is left alone: eager results, mode and memory format are unchanged.
    np.testing.assert_array_equal(embed_images(net, images), expected)
    net.train()
    Embedder(net, 32, backend="torch", fuse=False, channels_last=True)
    assert net.training
    assert all(p.is_contiguous() for p in net.parameters())


@needs_onnx
@pytest.mark.parametrize("backbone", ["small_cnn", "mobilenet_v2"])
def test_onnx_backend_matches_eager(backbone: str) -> None:
    net, images = _net(backbone), _images()
    embedder = Embedder(net, 32, backend="onnx", threads=1, batch_size=16)
    assert embedder.backend == "onnx"
    np.testing.assert_allclose(embedder.embed(images), embed_images(net, images), atol=1e-3)


def test_empty_and_wrong_inputs() -> None:
    embedder = Embedder(_net("small_cnn"), 32, backend="torch")
    assert embedder.embed(np.zeros((0, 32, 32, 3), dtype=np.uint8)).shape == (0, 16)
    with pytest.raises(ValueError, match="expected uint8 images"):
        embedder.embed(np.zeros((2, 64, 64, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        embedder.embed(np.zeros((2, 32, 32, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="unknown backend"):
        Embedder(_net("small_cnn"), 32, backend="tensorrt")


@pytest.mark.parametrize("backend", ["auto", "torch", "openvino"])
def test_from_run(tmp_path, fake_lfw, fake_run, backend: str) -> None:
    run = fake_run(tmp_path / "run", fake_lfw(tmp_path / "data"), dim=8)
    embedder = Embedder.from_run(run.path, backend=backend, threads=1)
    assert (embedder.dim, embedder.image_size) == (8, 32)
    images = _images(n=5)
    np.testing.assert_allclose(embedder.embed(images), embed_images(run.load_model(), images), atol=1e-3)
    expected_backend = ("openvino" if openvino_available() else "onnx" if onnx_available() else "torch") if backend == "auto" else backend
    assert embedder.backend == expected_backend
    assert run.checkpoint("best").with_suffix(".onnx").exists() == (expected_backend in ("onnx", "openvino"))


@needs_onnx
def test_stale_onnx_export_is_rebuilt(tmp_path, fake_lfw, fake_run) -> None:
    run = fake_run(tmp_path / "run", fake_lfw(tmp_path / "data"), dim=8)
    export = run.checkpoint("best").with_suffix(".onnx")
    Embedder.from_run(run, backend="onnx", threads=1)
    first = export.read_bytes()
    # Same checkpoint: the cached export is used as it is.
    Embedder.from_run(run, backend="onnx", threads=1)
    assert export.read_bytes() == first
    # A new checkpoint (other weights): the export is rebuilt, and serves the new weights.
    torch.manual_seed(123)
    torch.save({"model": EmbeddingNet("small_cnn", 8, pretrained=False).state_dict(), "epoch": 1}, run.checkpoint("best"))
    embedder = Embedder.from_run(run, backend="onnx", threads=1)
    assert export.read_bytes() != first
    images = _images(n=5)
    np.testing.assert_allclose(embedder.embed(images), embed_images(run.load_model(), images), atol=1e-3)
    # A damaged export is rebuilt too.
    export.write_bytes(b"not a model")
    Embedder.from_run(run, backend="onnx", threads=1)
    assert export.read_bytes() != b"not a model"
    assert not list(export.parent.glob("*.tmp"))


@pytest.mark.parametrize("missing", [("onnxruntime", "openvino"), ("onnx",)])
def test_missing_onnx_falls_back_to_torch(monkeypatch, tmp_path, fake_lfw, fake_run, missing: tuple[str, ...]) -> None:
    for module in missing:
        monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    assert not onnx_available() and not openvino_available()
    net, images = _net("small_cnn"), _images(n=5)
    assert Embedder(net, 32).backend == "torch"
    with pytest.warns(UserWarning, match="embedding with torch"):
        embedder = Embedder(net, 32, backend="onnx")
    assert embedder.backend == "torch"
    np.testing.assert_allclose(embedder.embed(images), embed_images(net, images), atol=1e-4)
    run = fake_run(tmp_path / "run", fake_lfw(tmp_path / "data"), dim=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Embedder.from_run(run).backend == "torch"
    assert not run.checkpoint("best").with_suffix(".onnx").exists()


@pytest.mark.skipif(not openvino_available(), reason="openvino is not installed")
def test_openvino_backend_serves_concurrent_callers_with_their_own_batches() -> None:
    """The server's match threads share one embedder: a three-face match and a one-face match at the same time
    must each get their own rows (one shared infer request once returned another call's output)."""
    import threading

    net, images = _net("small_cnn"), _images(n=12)
    embedder = Embedder(net, 32, backend="openvino", threads=1)
    expected = embed_images(net, images)
    problems: list[str] = []

    def worker(number: int) -> None:
        for round_ in range(30):
            size = 1 + (number + round_) % 3
            start = (number * 3 + round_) % (len(images) - size)
            try:
                got = embedder.embed(images[start : start + size])
                np.testing.assert_allclose(got, expected[start : start + size], atol=1e-3)
            except Exception as error:  # noqa: BLE001 - every failure is reported below
                problems.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []
