"""Evaluation of an embedding in numpy: neighbours, classifiers, retrieval, pair verification and baselines."""

from model.evaluation.baselines import PcaWhitening, raw_pixel_features
from model.evaluation.classifiers import accuracy, confusions, knn_predict, ncm_predict, per_class_accuracy
from model.evaluation.neighbors import nearest_neighbors, pairwise_distances
from model.evaluation.retrieval import retrieval_metrics
from model.evaluation.verification import (
    best_threshold,
    kfold_verification,
    roc_curve_points,
    transfer_verification,
)

__all__ = [
    "PcaWhitening",
    "accuracy",
    "best_threshold",
    "confusions",
    "kfold_verification",
    "knn_predict",
    "ncm_predict",
    "nearest_neighbors",
    "pairwise_distances",
    "per_class_accuracy",
    "raw_pixel_features",
    "retrieval_metrics",
    "roc_curve_points",
    "transfer_verification",
]
