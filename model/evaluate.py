"""``doppelganger evaluate RUN_DIR``: every metric of a run on its saved test split, as JSON and Markdown.

Closed-set tasks: nearest class mean and k-NN accuracy (k = 1, 5) with the training images as the gallery, each
over all test images and averaged per class; retrieval P@1, R-precision and MAP@R within the test images
(Musgrave et al., 2020). LFW adds verification: View 2 (10 folds of ``pairs.txt``, threshold chosen on the other
nine) and, for a model trained on DevTrain identities only, DevTest (threshold chosen on ``pairsDevTrain.txt``).
The same metrics are computed for two baselines on the same split: 1-NN on raw pixels and on whitened PCA.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from model.data.lfw import Pairs, read_pairs, unseen_pairs
from model.data.tasks import dataset_cache, is_closed_set, make_parts
from model.evaluation import (
    PcaWhitening,
    accuracy,
    confusions,
    kfold_verification,
    knn_predict,
    ncm_predict,
    per_class_accuracy,
    raw_pixel_features,
    retrieval_metrics,
    roc_curve_points,
    transfer_verification,
)
from model.evaluation.report import markdown_report
from model.inference import Embedder
from model.run import RunDir
from model.settings import get_settings

Features = Callable[[np.ndarray], np.ndarray]
"""Turns uint8 images (N, H, W, 3) into features (N, D): the model, or a baseline."""


def closed_set_metrics(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray
) -> tuple[dict[str, float], np.ndarray]:
    """NCM and k-NN accuracy (training images as the gallery), overall and per class; and the 1-NN predictions."""
    out: dict[str, float] = {}
    predictions = {
        "ncm": ncm_predict(train_x, train_y, test_x),
        "knn1": knn_predict(train_x, train_y, test_x, k=1),
        "knn5": knn_predict(train_x, train_y, test_x, k=5),
    }
    for key, predicted in predictions.items():
        out[f"{key}_acc"] = accuracy(test_y, predicted)
        out[f"{key}_acc_per_class"] = per_class_accuracy(test_y, predicted)
    return out, predictions["knn1"]


def verification_distances(features: Features, pairs: Pairs, lookup: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Distance between the two images of every pair, embedding each distinct image once."""
    paths = sorted(set(pairs.left) | set(pairs.right))
    row = {p: i for i, p in enumerate(paths)}
    emb = features(lookup(paths))
    left = emb[[row[p] for p in pairs.left]]
    right = emb[[row[p] for p in pairs.right]]
    return np.linalg.norm(left - right, axis=1)


def lfw_verification(
    features: Features, lfw_dir: Path, lookup: Callable[[list[str]], np.ndarray], devtest: bool,
    trained_people: set[str] | None = None,
) -> dict[str, Any]:
    """View 2 accuracy (mean and std over the 10 folds) and AUC; DevTest accuracy when ``devtest``.

    With ``trained_people``, also View 2 on the pairs of people the model never trained on (``*_unseen``): View 2's
    folds span all of LFW, so a model trained on LFW people has seen some of them, and only this subset measures
    verification of new faces.
    """
    view2 = read_pairs(lfw_dir / "pairs.txt")
    d = verification_distances(features, view2, lookup)
    result = kfold_verification(d, view2.same, view2.fold)
    fpr, tpr = roc_curve_points(d, view2.same)
    out: dict[str, Any] = {
        "lfw_view2_acc": result["acc"], "lfw_view2_std": result["std"], "lfw_view2_auc": result["auc"],
        "lfw_view2_roc": {"fpr": fpr, "tpr": tpr},
    }
    if trained_people is not None:
        keep = unseen_pairs(view2, trained_people)
        unseen = kfold_verification(d[keep], view2.same[keep], view2.fold[keep])
        out.update({
            "lfw_view2_unseen_acc": unseen["acc"], "lfw_view2_unseen_std": unseen["std"],
            "lfw_view2_unseen_auc": unseen["auc"], "lfw_view2_unseen_pairs": int(len(keep)),
        })
    if devtest:
        dev_train, dev_test = read_pairs(lfw_dir / "pairsDevTrain.txt"), read_pairs(lfw_dir / "pairsDevTest.txt")
        transfer = transfer_verification(
            verification_distances(features, dev_train, lookup), dev_train.same,
            verification_distances(features, dev_test, lookup), dev_test.same,
        )
        out["lfw_devtest_acc"] = transfer["acc"]
        out["lfw_devtest_auc"] = transfer["auc"]
    return out


def lfw62_knn1(features: Features, data_dir: Path, lookup: Callable[[list[str]], np.ndarray]) -> float:
    """1-NN accuracy on LFW-62 (people with 20+ images; the seed-0 closed split, its test images against its
    training images): the course's headline figure, for a model trained on other LFW people (DevTrain) or none."""
    parts = make_parts("lfw", data_dir, 20, 0, "closed")
    train, test = parts["train"], parts["test"]
    predicted = knn_predict(features(lookup(train.paths)), train.labels, features(lookup(test.paths)), k=1)
    return accuracy(test.labels, predicted)


def evaluate_features(
    features: Features,
    train_images: np.ndarray, train_y: np.ndarray,
    test_images: np.ndarray, test_y: np.ndarray,
    closed: bool,
    lfw: tuple[Path, Callable[[list[str]], np.ndarray], bool, set[str]] | None,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Every metric that applies, for one way of turning images into features, and the 1-NN predictions of the
    test images (closed sets only)."""
    test_x = features(test_images)
    out: dict[str, Any] = {}
    predicted = None
    if closed:
        metrics, predicted = closed_set_metrics(features(train_images), train_y, test_x, test_y)
        out.update(metrics)
    out.update(retrieval_metrics(test_x, test_y))
    if lfw is not None:
        out.update(lfw_verification(features, *lfw))
    return out, predicted


def model_features(net: torch.nn.Module, image_size: int) -> Features:
    """The network's embeddings, through the fastest exact backend (``model.inference.Embedder``)."""
    return Embedder(net, image_size, backend="auto")


def baseline_features(train_images: np.ndarray) -> dict[str, Features]:
    """Raw pixels, and whitened PCA fitted on the training images."""
    pca = PcaWhitening().fit(raw_pixel_features(train_images))
    return {
        "raw_pixels": raw_pixel_features,
        "pca_whitened": lambda images: pca.transform(raw_pixel_features(images)),
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    run = RunDir(args.run_dir)
    if not run.exists():
        raise FileNotFoundError(f"{run.path} is not a run directory (no config.json); train one with `doppelganger train`")
    checkpoint = run.checkpoint(args.checkpoint)
    if not checkpoint.exists():
        raise FileNotFoundError(f"{checkpoint} does not exist; has the run finished an epoch?")
    torch.set_num_threads(os.cpu_count() or 1)
    settings = get_settings()
    config = run.config()
    parts = run.split()
    train, test = parts["train"], parts["test"]
    closed = is_closed_set(config.dataset, config.protocol)
    cache = dataset_cache(config.dataset, settings.data_dir, settings.cache_dir, config.image_size, config.backbone, config.extra_data,
                          face_template=config.face_template)
    train_images, test_images = cache.take(train.paths), cache.take(test.paths)
    trained = {name for part in (parts["train"], parts["val"]) for name in np.asarray(part.classes)[np.unique(part.labels)]}
    lfw = (settings.lfw_dir, cache.take, config.protocol == "devtrain", trained) if config.dataset == "lfw" else None

    start = time.perf_counter()
    net = run.load_model(args.checkpoint)
    result: dict[str, Any] = {
        "run": str(run.path), "checkpoint": args.checkpoint, "config": config.to_dict(),
        "train_images": len(train), "test_images": len(test), "classes": test.num_classes,
    }
    features = model_features(net, config.image_size)  # one export and one runtime for every metric
    metrics, predicted = evaluate_features(features, train_images, train.labels, test_images, test.labels, closed, lfw)
    result.update(metrics)
    if config.dataset == "lfw" and not closed:
        result["lfw62_knn1_acc"] = lfw62_knn1(features, settings.data_dir, cache.take)
    if predicted is not None:
        result["knn1_confusions"] = [
            {"true": test.classes[t], "predicted": test.classes[p], "count": int(c)}
            for t, p, c in confusions(test.labels, predicted, top=10)
        ]
    result["eval_seconds"] = time.perf_counter() - start
    metrics = [m for m in run.metrics() if m["epoch"] > 0]  # epoch 0: the untrained network of --epochs 0
    result["epochs"] = len(metrics)
    if metrics:
        result["train_minutes"] = sum(m["train_seconds"] for m in metrics) / 60
        result["best_epoch"] = int(torch.load(run.checkpoint("best"), map_location="cpu", weights_only=True)["epoch"]) + 1
    if not args.no_baselines:
        result["baselines"] = {
            name: evaluate_features(features, train_images, train.labels, test_images, test.labels, closed, lfw)[0]
            for name, features in baseline_features(train_images).items()
        }
    run.eval_json.write_text(json.dumps(result, indent=2) + "\n")
    run.eval_md.write_text(markdown_report(result))
    print(run.eval_md.read_text())
    return result
