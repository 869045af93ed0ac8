"""``OpenVinoIRNet``: the PyTorch rebuild of an OpenVINO graph gives the runtime's outputs, and can be trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model.networks import EmbeddingNet
from model.networks.openvino_ir import OpenVinoIRNet, UnsupportedGraphError

MODELS = [("face-reidentification-retail-0095", (3, 3, 128, 128)), ("landmarks-regression-retail-0009", (3, 3, 48, 48))]


@pytest.mark.parametrize(("name", "shape"), MODELS)
def test_the_rebuilt_graph_matches_openvino(weights_dir: Path, name: str, shape: tuple[int, ...]) -> None:
    import openvino as ov

    xml = weights_dir / "openvino" / f"{name}.xml"
    core = ov.Core()
    graph = core.read_model(xml)
    graph.reshape(list(shape))
    compiled = core.compile_model(graph, "CPU")
    images = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    expected = compiled(images)[0]
    with torch.no_grad():
        got = OpenVinoIRNet(xml).eval()(torch.from_numpy(images)).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * np.abs(expected).max())


def test_the_face_backbone_is_trainable_and_freezable(weights_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOPPELGANGER_WEIGHTS_DIR", str(weights_dir))
    from model.settings import get_settings

    get_settings.cache_clear()
    try:
        net = EmbeddingNet("face_reid_0095", dim=256, head="none")
        frozen = EmbeddingNet("face_reid_0095", dim=32, head="linear", freeze_backbone=True)
    finally:
        get_settings.cache_clear()
    images = torch.rand(4, 3, 128, 128)
    out = net(images)
    assert out.shape == (4, 256) and torch.allclose(out.norm(dim=1), torch.ones(4), atol=1e-5)
    out.sum().backward()
    assert all(p.grad is not None for p in net.backbone.parameters())
    frozen.train()
    assert not frozen.backbone.training and frozen.head.training
    frozen(images).sum().backward()
    assert all(p.grad is None for p in frozen.backbone.parameters()) and frozen.head.weight.grad is not None
    with pytest.raises(ValueError, match="--dim must be 256"):
        EmbeddingNet("face_reid_0095", dim=64, head="none")


def test_an_operation_it_does_not_know_is_refused_by_name(tmp_path: Path) -> None:
    xml = tmp_path / "odd.xml"
    xml.write_text(
        '<?xml version="1.0"?><net name="odd" version="11"><layers>'
        '<layer id="0" name="x" type="Parameter" version="opset1"><data shape="1,3,4,4" element_type="f32"/></layer>'
        '<layer id="1" name="y" type="Softsign" version="opset9"/>'
        '<layer id="2" name="z" type="Result" version="opset1"/></layers>'
        '<edges><edge from-layer="0" from-port="0" to-layer="1" to-port="0"/>'
        '<edge from-layer="1" from-port="1" to-layer="2" to-port="0"/></edges></net>'
    )
    xml.with_suffix(".bin").write_bytes(b"")
    with pytest.raises(UnsupportedGraphError, match="Softsign"):
        OpenVinoIRNet(xml)
