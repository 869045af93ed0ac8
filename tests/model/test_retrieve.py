"""``doppelganger retrieve``: nearest gallery images of one query, on a tiny fake run (an untrained small CNN over a
few synthetic LFW-layout people; no training, no real data)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.commands import UserError
from model.data.tasks import dataset_cache
from model.inference import embed_images
from model.retrieve import CAPTION, PAD, SEPARATOR, TILE, add_retrieve_arguments, locate_in_gallery, main, sheet_size
from model.run import RunDir
from model.settings import get_settings
from model.transforms import preprocess_for

@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory, fake_lfw, fake_run) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fake_lfw_retrieve")
    images = fake_lfw(root / "data", seed=1)
    run = fake_run(root / "run", images, dim=8)
    return {"data": root / "data", "cache": root / "cache", "run": run.path, "images": images.root}


@pytest.fixture(autouse=True)
def _fake_settings(fake: dict[str, Path], point_settings_at) -> None:
    point_settings_at(fake["data"], fake["cache"])


def _args(run_dir: Path, image: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_retrieve_arguments(parser)
    return parser.parse_args([str(run_dir), "--image", str(image), *extra])


def _result_lines(out: str) -> list[list[str]]:
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["rank", "class"])
    return [line.split() for line in lines[header + 1 :] if line.strip() and line.split()[0].isdigit()]


def _expected(fake: dict[str, Path], query: Path, part_names: list[str]) -> tuple[list[str], np.ndarray]:
    """Brute force: every gallery path and its distance to the query."""
    run = RunDir(fake["run"])
    split = run.split()
    paths = [p for name in part_names for p in split[name].paths]
    settings = get_settings()
    cache = dataset_cache("lfw", settings.data_dir, settings.cache_dir, 32)
    net = run.load_model()
    with Image.open(query) as image:
        q = embed_images(net, np.array(preprocess_for("lfw", 32)(image))[None])
    return paths, np.linalg.norm(embed_images(net, cache.take(paths)) - q, axis=1)


def test_retrieve_lists_the_k_nearest_training_images(fake: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    query = fake["images"] / "Alan_Turing" / "Alan_Turing_0006.jpg"  # a test image: not in the training gallery
    result = main(_args(fake["run"], query, "-k", "4"))
    rows = _result_lines(capsys.readouterr().out)
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4]
    distances = [float(r[2]) for r in rows]
    assert distances == sorted(distances)
    assert result.excluded is None and result.gallery_size == 16
    paths, d = _expected(fake, query, ["train"])
    order = np.argsort(d, kind="stable")[:4]
    assert np.allclose([m.distance for m in result.matches], d[order], atol=1e-5)
    assert [Path(r[3]) for r in rows] == [m.path for m in result.matches]
    assert {m.path.relative_to(fake["images"]).as_posix() for m in result.matches} == {paths[i] for i in order}
    for row, match in zip(rows, result.matches):
        assert row[1] == match.class_name == match.path.parent.name and match.part == "train"


def test_a_query_in_the_gallery_is_left_out(fake: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    query = fake["images"] / "Grace_Hopper" / "Grace_Hopper_0002.jpg"  # a training image
    result = main(_args(fake["run"], query, "-k", "15"))
    out = capsys.readouterr().out
    assert "left out" in out and "Grace_Hopper/Grace_Hopper_0002.jpg" in out
    assert result.excluded == query
    rows = _result_lines(out)
    assert len(rows) == 15 and all(Path(r[3]) != query for r in rows)
    with pytest.raises(UserError, match="15 gallery images"):  # 16 training images, one of them the query
        main(_args(fake["run"], query, "-k", "16"))


def test_the_whole_split_as_gallery(fake: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    query = fake["images"] / "Kurt_Goedel" / "Kurt_Goedel_0006.jpg"  # in test: part of the "all" gallery
    result = main(_args(fake["run"], query, "-k", "23", "--gallery-part", "all"))
    assert result.gallery_size == 24 and result.excluded == query
    assert {m.part for m in result.matches} == {"train", "val", "test"}
    paths, d = _expected(fake, query, ["train", "val", "test"])
    assert np.allclose(sorted(m.distance for m in result.matches), np.sort(d)[1:], atol=1e-5)


def test_a_copy_elsewhere_is_not_the_gallery_image(fake: dict[str, Path], tmp_path: Path) -> None:
    source = fake["images"] / "Ada_Lovelace" / "Ada_Lovelace_0001.jpg"
    copy = tmp_path / "Ada_Lovelace_0001.jpg"
    shutil.copy(source, copy)
    gallery = ["Ada_Lovelace/Ada_Lovelace_0001.jpg", "Alan_Turing/Alan_Turing_0001.jpg"]
    assert locate_in_gallery(copy, gallery, [fake["images"]]) is None
    assert locate_in_gallery(source, gallery, [tmp_path, fake["images"]]) == 0


def test_contact_sheet(fake: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    query = fake["images"] / "Ada_Lovelace" / "Ada_Lovelace_0006.jpg"
    sheet = tmp_path / "sheets" / "ada.png"
    result = main(_args(fake["run"], query, "-k", "3", "--sheet", str(sheet)))
    assert result.sheet == sheet and str(sheet) in capsys.readouterr().out
    with Image.open(sheet) as image:
        image.load()
        assert image.format == "PNG"
        assert image.size == sheet_size(3) == (PAD + 4 * (TILE + PAD) + SEPARATOR, PAD + TILE + CAPTION + PAD)
        pixels = np.asarray(image.convert("RGB"))
    assert pixels[PAD + TILE // 2, PAD + TILE // 2].tolist() != [255, 255, 255]  # the query is drawn
    last = PAD + 3 * (TILE + PAD) + SEPARATOR
    assert pixels[PAD + 5 : PAD + TILE - 5, last + 5 : last + TILE - 5].std() > 0  # so is the third match


def test_errors_are_user_errors(fake: dict[str, Path], tmp_path: Path) -> None:
    good = fake["images"] / "Ada_Lovelace" / "Ada_Lovelace_0001.jpg"
    with pytest.raises(UserError, match="does not exist"):
        main(_args(fake["run"], tmp_path / "missing.jpg"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a JPEG at all")
    with pytest.raises(UserError, match="cannot read"):
        main(_args(fake["run"], broken))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(UserError, match="cannot read"):
        main(_args(fake["run"], truncated))
    with pytest.raises(UserError, match="not a run directory"):
        main(_args(tmp_path / "nothing", good))
    run = tmp_path / "run"
    shutil.copytree(fake["run"], run)
    shutil.rmtree(run / "checkpoints")
    with pytest.raises(UserError, match="no checkpoint"):
        main(_args(run, good))
    with pytest.raises(UserError, match="-k"):
        main(_args(fake["run"], good, "-k", "0"))
