from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from app.cli import main as cli_main
from index.build import build_index
from index.matcher import Matcher
from index.storage import ModelMismatchError
from model.faces.photo_decode import ImageDecodeError
from model.faces.detector import NoFaceError


@pytest.fixture(scope="module")
def built(index_world, tmp_path_factory: pytest.TempPathFactory):
    root, images, run = index_world
    out = tmp_path_factory.mktemp("match-index")
    build_index(run.path, images.root, out, root / "lfw", progress=False)
    return images, run, out


@pytest.fixture(scope="module")
def matcher(built, stub_detector) -> Matcher:
    _, _, out = built
    return Matcher.load(out, detector=stub_detector)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def test_an_aligned_gallery_image_finds_itself_first(built, matcher: Matcher) -> None:
    images, _, _ = built
    path = images.root / images.paths[7]
    result = matcher.match(path.read_bytes(), k=3, aligned=True)
    [face] = result["faces"]
    best = face["matches"][0]
    assert best["person"] == images.classes[images.labels[7]]
    assert best["distance"] < 0.05
    # The calibration of this untrained model is what it is; the scores must follow it.
    assert best["similarity"] == round(float(matcher.calibration.similarity(1 - best["distance"] ** 2 / 2)), 1)
    assert best["same_person"] is bool(matcher.calibration.same_person(1 - best["distance"] ** 2 / 2))
    assert [m["similarity"] for m in face["matches"]] == sorted((m["similarity"] for m in face["matches"]), reverse=True)
    assert result["query_face"] == 0 and result["index"] == matcher.index.version
    assert set(result["timings_ms"]) == {"decode", "detect", "crop", "embed", "search", "total"}
    json.dumps(result)


def test_every_face_gets_matches_largest_first_and_the_query_can_be_chosen(matcher: Matcher) -> None:
    photo = _jpeg(Image.new("RGB", (320, 240), (120, 90, 80)))
    result = matcher.match(photo, k=2, face=1)
    assert [f["box"] for f in result["faces"]] == [[60.0, 50.0, 190.0, 200.0], [10.0, 10.0, 40.0, 45.0]]
    assert result["query_face"] == 1 and all(len(f["matches"]) == 2 for f in result["faces"])
    with pytest.raises(ValueError, match="has 2 face"):
        matcher.match(photo, face=2)


def test_no_face_bad_bytes_and_bad_k_are_clear_errors(matcher: Matcher) -> None:
    with pytest.raises(NoFaceError, match="no face found"):
        matcher.match(_jpeg(Image.new("RGB", (100, 100))))
    with pytest.raises(ImageDecodeError):
        matcher.match(b"definitely not an image")
    with pytest.raises(ValueError, match="k must be between 1 and 100"):
        matcher.match(_jpeg(Image.new("RGB", (100, 100), (9, 9, 9))), k=0)


def test_a_run_other_than_the_one_that_built_the_index_is_refused(built, fake_run, stub_detector, tmp_path: Path) -> None:
    images, _, out = built
    other = fake_run(tmp_path / "other", images, dim=16)
    import torch

    from model.networks import EmbeddingNet

    torch.manual_seed(5)
    torch.save({"model": EmbeddingNet("small_cnn", 16, pretrained=False).state_dict(), "epoch": 0}, other.checkpoint("best"))
    with pytest.raises(ModelMismatchError, match="was built by model"):
        Matcher.load(out, run_dir=other.path, detector=stub_detector)


def test_the_match_command_prints_the_endpoint_json(built, capsys: pytest.CaptureFixture[str]) -> None:
    images, _, out = built
    assert cli_main(["match", str(images.root / images.paths[0]), "--index", str(out), "--aligned", "-k", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["faces"][0]["matches"][0]["person"] == images.classes[0]
    assert cli_main(["match", str(images.root / images.paths[0]), "--index", str(out), "--aligned"]) == 0
    text = capsys.readouterr().out
    assert "face 0:" in text and images.classes[0] in text and "timings (ms)" in text


def test_the_match_command_reports_a_missing_index_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "p.jpg"
    Image.new("RGB", (10, 10)).save(photo)
    assert cli_main(["match", str(photo), "--index", str(tmp_path / "none")]) == 2
    assert "doppelganger index build" in capsys.readouterr().err


def test_rank_of_finds_where_a_person_ranks_over_the_whole_gallery(built, matcher: Matcher, capsys) -> None:
    images, _, out = built
    path = images.root / images.paths[7]
    person = images.classes[images.labels[7]]
    ranks = matcher.rank_of(path.read_bytes(), person, aligned=True)
    assert ranks[0] == 1 and len(ranks) == int((images.labels == images.labels[7]).sum())
    assert ranks == sorted(ranks) and max(ranks) <= len(matcher.index)
    assert matcher.rank_of(path.read_bytes(), "Nobody_In_The_Gallery", aligned=True) == []
    assert cli_main(["match", str(path), "--index", str(out), "--aligned", "--rank-of", person]) == 0
    assert f"{person}: ranks 1, " in capsys.readouterr().out


def test_the_detector_flag_names_the_detector_of_match_and_index_build(built, monkeypatch, capsys) -> None:
    import index.build
    import index.match_command
    from model.settings import get_settings

    images, _, out = built
    chosen = {}
    load = Matcher.load

    def spy(*args, **kwargs):
        chosen["match"] = kwargs.get("detector")
        return load(*args, **kwargs)

    monkeypatch.setattr(index.match_command.Matcher, "load", spy)
    photo = str(images.root / images.paths[0])
    assert cli_main(["match", photo, "--index", str(out), "--aligned", "--detector", "yunet", "--json"]) == 0
    assert chosen["match"] == "yunet"
    assert cli_main(["match", photo, "--index", str(out), "--aligned", "--json"]) == 0
    assert chosen["match"] is None  # the setting's
    capsys.readouterr()

    monkeypatch.delenv("DOPPELGANGER_DETECTOR", raising=False)  # restored after the test
    monkeypatch.setattr(index.build, "main", lambda args: chosen.update(build=get_settings().detector))
    try:
        assert cli_main(["index", "build", "--detector", "openvino"]) == 0
        assert chosen["build"] == "openvino"
    finally:
        get_settings.cache_clear()
    with pytest.raises(SystemExit):
        cli_main(["match", photo, "--detector", "dlib"])
    assert "invalid choice: 'dlib'" in capsys.readouterr().err
