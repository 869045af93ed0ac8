"""The dashboards in a real browser: they render with no console errors, committed run summaries and seeds folded
into one row included; the map hovers, searches, zooms, switches to t-SNE when it is ready, and highlights a match."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.main import create_app
from app.services.matching import MatchService
from app.settings import AppSettings
from index.storage import IndexDir
from model.config import TrainConfig
from model.run import RunDir
from model.run_summary import summarise_run, write_summary

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser test skipped: Playwright for Python is missing (`make setup` installs it)"
)
expect = sync_api.expect


def _eval(knn1: float, confusions: list[dict]) -> dict:
    fpr = np.linspace(0, 1, 400) ** 2
    return {
        "classes": 4, "knn1_acc": knn1, "knn1_acc_per_class": knn1 - 0.05, "map_at_r": knn1 / 2, "lfw_view2_acc": 0.8,
        "lfw_view2_std": 0.01, "lfw_view2_roc": {"fpr": fpr.tolist(), "tpr": np.sqrt(fpr).tolist()},
        "knn1_confusions": confusions, "epochs": 3, "best_epoch": 2,
    }


def _metrics(run: Path, loss0: float) -> None:
    rows = [{"epoch": e, "loss": loss0 / e, "val_knn1_acc": 0.5 + 0.1 * e} for e in (1, 2, 3)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def dash_url(index_world, app_index: Path, serve_app, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app over a copy of the fake index whose run is evaluated, with two comparison runs."""
    _, _, run = index_world
    tmp = tmp_path_factory.mktemp("dashboards")
    served = tmp / "served-run"
    shutil.copytree(run.path, served)
    index_dir = tmp / "index"
    shutil.copytree(app_index, index_dir)
    manifest_file = IndexDir(index_dir).current() / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["model_run"] = str(served)
    manifest_file.write_text(json.dumps(manifest))
    (served / "eval.json").write_text(json.dumps(_eval(0.9, [{"true": "Ada_Lovelace", "predicted": "Alan_Turing", "count": 2}])))
    _metrics(served, 1.0)
    for name, loss in (("lfw4-triplet-d16", "triplet"), ("lfw4-cosface-d16", "cosface")):
        other = RunDir(tmp / "runs" / "compare" / name)
        other.write_config(TrainConfig(dataset="lfw", loss=loss, backbone="small_cnn", pretrained=False, dim=16, image_size=32, min_images=4))
        (other.path / "eval.json").write_text(json.dumps(_eval(0.8, [{"true": "Grace_Hopper", "predicted": "Kurt_Goedel", "count": 1}])))
        _metrics(other.path, 30.0 if loss == "cosface" else 0.5)
    # Two seeds of one configuration known from their committed summaries only: one row, mean ± std.
    for seed, knn1 in ((0, 0.7), (1, 0.76)):
        config = TrainConfig(dataset="lfw", loss="triplet", miner="batch-all", backbone="small_cnn", pretrained=False,
                             dim=16, image_size=32, min_images=4, seed=seed)
        gone = RunDir(tmp / "gone" / config.default_run_name())
        gone.write_config(config)
        gone.eval_json.write_text(json.dumps(_eval(knn1, [{"true": "Ada_Lovelace", "predicted": "Kurt_Goedel", "count": 1}])))
        _metrics(gone.path, 2.0)
        write_summary(summarise_run(gone.path, report="docs/results.md", grid="grids/comparison.toml"), tmp / "summaries")
        shutil.rmtree(gone.path)
    settings = AppSettings(index_dir=index_dir, runs_dir=tmp / "runs", gallery_added_dir=tmp / "added", summaries_dir=tmp / "summaries")
    service = MatchService(index_dir)
    service._detector = object()  # no /match on these pages
    service.load()
    yield from serve_app(create_app(settings, match_service=service))


def test_the_accuracy_dashboard_renders_without_errors(dash_url: str, tab) -> None:
    page = tab.page
    page.goto(dash_url + "/dashboard/accuracy")
    expect(page.locator("#metric-table tbody tr")).to_have_count(4)  # the served model, two runs, two seeds as one
    expect(page.locator("#roc-chart svg path.plot-line")).to_have_count(4)
    expect(page.locator("#val-chart svg path.plot-line")).to_have_count(4)
    expect(page.locator("#loss-chart svg path.plot-line")).to_have_count(4)
    seeds = page.locator("#metric-table details.seed-runs")
    expect(seeds).to_have_count(1)
    expect(seeds.locator("li").first).not_to_be_visible()
    seeds.locator("summary").click()
    expect(seeds.locator("li")).to_have_count(2)
    expect(seeds.locator("li").nth(1)).to_be_visible()
    expect(seeds.locator("li").nth(1)).to_contain_text("-s1: 1-NN 76.0 (summary)")
    expect(page.locator("#metric-table .seed-spread").first).to_contain_text("± 4.2")  # std of 70 and 76
    expect(page.locator("#roc-chart .plot-legend li").first).to_contain_text("served")
    confusions = page.locator("#confusions li.confusion")
    expect(confusions).to_have_count(1)
    confusions.first.scroll_into_view_if_needed()  # the faces load lazily
    page.wait_for_function("() => [...document.querySelectorAll('#confusions img')].length === 2 && "
                           "[...document.querySelectorAll('#confusions img')].every(i => i.complete && i.naturalWidth > 0)")
    page.select_option("#confusion-run", "lfw4-cosface-d16")
    expect(confusions.first).to_contain_text("Grace Hopper")
    assert tab.errors == []


def test_the_embedding_map_hovers_searches_zooms_and_switches_to_tsne(dash_url: str, tab) -> None:
    page = tab.page
    page.goto(dash_url + "/dashboard/embedding")
    legend = page.locator("#map-legend")
    expect(legend).to_contain_text("72 images of 12 people")
    # t-SNE of 72 points takes a moment: the map switches by itself.
    expect(page.locator("#method-tsne")).to_be_checked(timeout=60_000)
    expect(legend).to_contain_text("t-SNE")
    painted = page.evaluate("""() => { const c = document.getElementById('map');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert painted > 500

    # Hover the first point: its face and name.
    body = page.evaluate("() => fetch('/dashboard/embedding/data?method=tsne').then(r => r.json())")
    x, y = body["points"][0][:2]
    box = page.locator("#map").bounding_box()
    scale = min(box["width"], box["height"]) / 2 * 0.92
    page.mouse.move(box["x"] + box["width"] / 2 + x * scale, box["y"] + box["height"] / 2 - y * scale)
    expect(page.locator("#map-tip")).to_be_visible()
    expect(page.locator("#map-tip-name")).not_to_be_empty()
    page.wait_for_function("() => { const i = document.getElementById('map-tip-img'); return i.complete && i.naturalWidth > 0; }")

    page.fill("#person-search", "grace hopper")
    expect(legend).to_contain_text("1 person matches")

    def view() -> tuple[float, float, float]:
        """The drawn view: zoom factor and centre (the page writes it on the canvas at every frame)."""
        page.evaluate("() => new Promise(requestAnimationFrame)")  # the frame that follows an event
        k, cx, cy = map(float, page.get_attribute("#map", "data-view").split())
        return k, cx, cy

    page.click("#map-reset")
    assert view() == (1.0, 0.0, 0.0)
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.3)
    page.mouse.wheel(0, -400)  # zoom in, about the pointer
    zoomed = view()
    assert zoomed[0] > 1.0 and (zoomed[1], zoomed[2]) != (0.0, 0.0)  # the point under the pointer stays put
    page.mouse.move(box["x"] + 50, box["y"] + 50)
    page.mouse.down()
    page.mouse.move(box["x"] + 150, box["y"] + 120, steps=5)
    page.mouse.up()
    panned = view()
    assert panned[0] == zoomed[0]
    assert panned[1] < zoomed[1] and panned[2] > zoomed[2]  # dragged right and down: the centre moves left and up
    page.click("#map-reset")
    assert view() == (1.0, 0.0, 0.0)
    page.check("input[name=method][value=pca]", force=True)
    expect(legend).to_contain_text("PCA")
    assert tab.errors == []


def test_the_embedding_map_highlights_a_match(dash_url: str, tab) -> None:
    page = tab.page
    page.goto(dash_url + "/dashboard/embedding?match=0:91.5,1:80,7:60")
    expect(page.locator("#map-legend")).to_contain_text("Your photo (◆) sits at the similarity-weighted mean of its 3 matches")
    assert tab.errors == []
