"""``doppelganger visualize``: projections, scatter plots, the HTML map and the projector export, on a tiny fake run
(an untrained small CNN over a few synthetic LFW-layout people; no training, no real data)."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.commands import UserError
from model.data.image_set import ImageSet
from model.data.tasks import dataset_cache
from model.inference import embed_images
from model.run import RunDir
from model.settings import get_settings
from model.visualization.html_map import render_html_map, to_canvas
from model.visualization.projection import methods_for, project_2d, stratified_subsample, tsne_perplexity
from model.visualization.visualize import add_visualize_arguments, main

@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory, fake_lfw, fake_run) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fake_lfw")
    images = fake_lfw(root / "data")
    return {
        "data": root / "data",
        "cache": root / "cache",
        "run2": fake_run(root / "run-d2", images, dim=2).path,
        "run8": fake_run(root / "run-d8", images, dim=8).path,
    }


@pytest.fixture(autouse=True)
def _fake_settings(fake: dict[str, Path], point_settings_at) -> None:
    point_settings_at(fake["data"], fake["cache"])


def _args(run_dir: Path, out: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_visualize_arguments(parser)
    return parser.parse_args([str(run_dir), "--out", str(out), *extra])


def _embeddings(run_dir: Path, part: str) -> tuple[ImageSet, np.ndarray]:
    run = RunDir(run_dir)
    images = run.split()[part]
    settings = get_settings()
    cache = dataset_cache("lfw", settings.data_dir, settings.cache_dir, 32)
    return images, embed_images(run.load_model(), cache.take(images.paths))


def _circles(html: str) -> np.ndarray:
    return np.array([[float(x), float(y)] for x, y in re.findall(r'<circle cx="([-\d.]+)" cy="([-\d.]+)"', html)])


# Projections and subsampling


def test_subsample_keeps_every_class_its_share_and_is_deterministic() -> None:
    labels = np.repeat(np.arange(5), [400, 300, 200, 95, 5])
    chosen = stratified_subsample(labels, 100, seed=3)
    assert len(chosen) == 100 and len(np.unique(chosen)) == 100 and np.all(np.diff(chosen) > 0)
    assert np.bincount(labels[chosen]).tolist() == [40, 30, 20, 9, 1]
    assert np.array_equal(chosen, stratified_subsample(labels, 100, seed=3))
    assert not np.array_equal(chosen, stratified_subsample(labels, 100, seed=4))
    assert np.array_equal(stratified_subsample(labels, 5000), np.arange(len(labels)))


def test_subsample_keeps_rare_classes_when_there_is_room() -> None:
    labels = np.repeat(np.arange(30), [500] + [2] * 29)
    chosen = stratified_subsample(labels, 40, seed=0)
    assert len(chosen) == 40 and len(np.unique(labels[chosen])) == 30


def test_direct_projection_is_the_embedding_itself() -> None:
    x = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    assert np.array_equal(project_2d(x, "direct", seed=0), x)
    assert methods_for(2) == ("direct",) and methods_for(8) == ("pca", "tsne")
    with pytest.raises(ValueError, match="2-D"):
        project_2d(np.zeros((20, 8)), "direct", seed=0)
    with pytest.raises(ValueError, match="unknown projection"):
        project_2d(x, "umap", seed=0)


def test_pca_and_tsne_give_one_2d_point_per_row() -> None:
    x = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    for method in ("pca", "tsne"):
        points = project_2d(x, method, seed=0, perplexity=5)
        assert points.shape == (40, 2) and points.dtype == np.float32 and np.isfinite(points).all()
    assert np.array_equal(project_2d(x, "tsne", seed=1, perplexity=5), project_2d(x, "tsne", seed=1, perplexity=5))
    assert tsne_perplexity(10, 30.0) == 3.0 and tsne_perplexity(1000, 30.0) == 30.0


# The HTML map on its own


def test_html_map_is_self_contained_and_escapes_names() -> None:
    points = np.random.default_rng(0).normal(size=(7, 2))
    images = np.zeros((7, 64, 64, 3), dtype=np.uint8)
    page = render_html_map(points, np.array([0, 0, 1, 1, 1, 2, 2]), ["A_B", "<script>x</script>", "C"], images, "t")
    assert page.count("<circle") == 7
    assert "<script>x</script>" not in page and "&lt;script&gt;x" in page
    assert not re.search(r"https?://", page)
    assert "data:image/jpeg;base64," in page
    assert np.allclose(_circles(page), to_canvas(points), atol=0.06)


# The command end to end


def test_visualize_dim8_writes_every_picture(
    fake: dict[str, Path], fake_people: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = main(_args(fake["run8"], tmp_path / "pictures"))
    assert out == tmp_path / "pictures"
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "embedding-test-pca.png", "embedding-test-tsne.html", "embedding-test-tsne.png",
        "embedding-train-pca.png", "embedding-train-tsne.html", "embedding-train-tsne.png", "projector",
    ]
    for png in out.glob("*.png"):
        with Image.open(png) as image:
            image.load()
            assert image.format == "PNG" and image.width > 400
    sizes = {"train": 16, "test": 4}
    for part, n in sizes.items():
        page = (out / f"embedding-{part}-tsne.html").read_text()
        assert page.count("<circle") == n
        assert all(name.replace("_", " ") in page for name in fake_people)
        assert not re.search(r"https?://", page)
        assert "<link" not in page and "src=" not in page  # nothing fetched
        folder = out / "projector" / "00000" / part
        tensors = np.loadtxt(folder / "tensors.tsv", delimiter="\t", ndmin=2)
        assert tensors.shape == (n, 8)
        assert np.allclose(tensors, _embeddings(fake["run8"], part)[1], atol=1e-5)
        metadata = (folder / "metadata.tsv").read_text().splitlines()
        assert metadata[0].split("\t") == ["class", "group", "image"] and len(metadata) == n + 1
        assert {line.split("\t")[0] for line in metadata[1:]} == set(fake_people)
        with Image.open(folder / "sprite.png") as sprite:
            assert sprite.size == (32 * int(np.ceil(np.sqrt(n))),) * 2
    config = (out / "projector" / "projector_config.pbtxt").read_text()
    assert "00000/train/tensors.tsv" in config and "00000/test/sprite.png" in config
    printed = capsys.readouterr().out
    assert "wrote 13 files" in printed and "tensorboard --logdir" in printed


def test_visualize_dim2_plots_the_embedding_itself(fake: dict[str, Path], tmp_path: Path) -> None:
    out = main(_args(fake["run2"], tmp_path / "pictures", "--parts", "test"))
    assert sorted(p.name for p in out.glob("embedding-*")) == ["embedding-test-direct.html", "embedding-test-direct.png"]
    _, embedding = _embeddings(fake["run2"], "test")
    drawn = _circles((out / "embedding-test-direct.html").read_text())
    assert np.allclose(drawn, to_canvas(embedding), atol=0.06)
    assert not (out / "projector" / "00000" / "train").exists()


def test_visualize_subsamples_and_defaults_into_the_run(fake: dict[str, Path], fake_people: list[str], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(fake["run8"], run)
    args = _args(run, tmp_path / "unused", "--parts", "train", "--max-points", "8", "--perplexity", "2", "--seed", "1")
    args.out = None
    out = main(args)
    assert out == run / "pictures"
    page = (out / "embedding-train-tsne.html").read_text()
    assert page.count("<circle") == 8
    assert all(name.replace("_", " ") in page for name in fake_people)  # two of each person
    tensors = np.loadtxt(out / "projector" / "00000" / "train" / "tensors.tsv", delimiter="\t", ndmin=2)
    assert tensors.shape == (8, 8)


def test_visualize_errors_are_user_errors(fake: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a run directory"):
        main(_args(tmp_path / "nothing", tmp_path / "out"))
    run = tmp_path / "run"
    shutil.copytree(fake["run8"], run)
    (run / "checkpoints" / "best.pt").unlink()
    with pytest.raises(UserError, match="best.pt"):
        main(_args(run, tmp_path / "out"))
    with pytest.raises(UserError, match="max-points"):
        main(_args(fake["run8"], tmp_path / "out", "--max-points", "0"))


def test_the_page_script_parses(fake: dict[str, Path], tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the page's JavaScript is not syntax-checked")
    page = render_html_map(np.zeros((3, 2)), np.array([0, 1, 1]), ["a", "b"], np.zeros((3, 8, 8, 3), np.uint8), "t")
    script = page.rsplit("<script>", 1)[1].split("</script>", 1)[0]
    (tmp_path / "page.js").write_text(script)
    result = subprocess.run([node, "--check", str(tmp_path / "page.js")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_importing_the_command_stays_light() -> None:
    code = "import sys, model.visualization.visualize, model.retrieve; print(sorted({'torch', 'matplotlib', 'sklearn'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr
