"""The distillation losses: embedding regression and relational term against values worked out by hand, their
weighting in DistillationLoss, and that training on them brings a student to its teacher."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model.losses import DistillationLoss, EmbeddingDistillationLoss, RelationalDistillationLoss

# Two images in 2-D, unit vectors.
#   image 0: student (1, 0)   teacher (1, 0)      cos = 1     1 - cos = 0     ||s - t|| = 0
#   image 1: student (0, 1)   teacher (0.6, 0.8)  cos = 0.8   1 - cos = 0.2   ||s - t|| = ||(-0.6, 0.2)|| = sqrt(0.4)
STUDENT = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
TEACHER = torch.tensor([[1.0, 0.0], [0.6, 0.8]])


def test_cosine_regression_by_hand() -> None:
    # mean(0, 0.2) = 0.1
    assert EmbeddingDistillationLoss("cosine")(STUDENT, TEACHER).item() == pytest.approx(0.1, rel=1e-6)


def test_l2_regression_by_hand() -> None:
    # mean(0, sqrt(0.36 + 0.04)) = sqrt(0.4) / 2 = 0.316228 (the zero distance counts as sqrt(1e-12) = 1e-6: the
    # clamp that keeps its gradient finite)
    assert EmbeddingDistillationLoss("l2")(STUDENT, TEACHER).item() == pytest.approx(math.sqrt(0.4) / 2, abs=1e-6)


def test_regression_normalises_both_sides() -> None:
    # Lengths do not count: (3, 0) and (0, 5) are the unit vectors above.
    scaled = STUDENT * torch.tensor([[3.0], [5.0]])
    assert EmbeddingDistillationLoss("cosine")(scaled, TEACHER * 2).item() == pytest.approx(0.1, rel=1e-6)


def test_a_projection_maps_a_narrower_or_wider_student_to_the_teacher() -> None:
    loss = EmbeddingDistillationLoss("cosine", student_dim=3, teacher_dim=2)
    assert loss.projection is not None and loss.projection.weight.shape == (2, 3)
    with torch.no_grad():
        loss.projection.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))  # drop the third coordinate
    # student (0.6, 0, 0.8) -> projected (0.6, 0) -> normalised (1, 0); teacher (0.6, 0.8): cos = 0.6, loss 0.4
    student = torch.tensor([[0.6, 0.0, 0.8]])
    assert loss(student, torch.tensor([[0.6, 0.8]])).item() == pytest.approx(0.4, rel=1e-6)
    # The projection learns: its gradient is not zero.
    loss(student, torch.tensor([[0.6, 0.8]])).backward()
    assert loss.projection.weight.grad.abs().sum() > 0
    assert EmbeddingDistillationLoss("cosine", student_dim=2, teacher_dim=2).projection is None
    with pytest.raises(ValueError, match="differ"):
        EmbeddingDistillationLoss("cosine")(torch.ones(2, 3), torch.ones(2, 2))
    with pytest.raises(ValueError, match="not one of"):
        EmbeddingDistillationLoss("manhattan")


# Three images in 2-D. Off-diagonal cosines (i < j):
#   student s0 = (1, 0), s1 = (0, 1), s2 = (0.6, 0.8):   s0.s1 = 0,  s0.s2 = 0.6,  s1.s2 = 0.8
#   teacher t0 = (1, 0), t1 = (1, 0), t2 = (0, 1):       t0.t1 = 1,  t0.t2 = 0,    t1.t2 = 0
#   differences: -1, 0.6, 0.8;  squares: 1, 0.36, 0.64;  sum 2 over 3 pairs -> 2 / 3
REL_STUDENT = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
REL_TEACHER = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])


def test_relational_term_by_hand() -> None:
    assert RelationalDistillationLoss()(REL_STUDENT, REL_TEACHER).item() == pytest.approx(2 / 3, rel=1e-6)


def test_relational_term_ignores_the_diagonal_and_a_rotation() -> None:
    # Rotating the teacher's vectors by 90 degrees changes every coordinate but no cosine: the term is 0, while
    # the embedding regression is not.
    rotation = torch.tensor([[0.0, -1.0], [1.0, 0.0]])
    rotated = REL_STUDENT @ rotation.T
    assert RelationalDistillationLoss()(rotated, REL_STUDENT).item() == pytest.approx(0.0, abs=1e-7)
    assert EmbeddingDistillationLoss("cosine")(rotated, REL_STUDENT).item() == pytest.approx(1.0, rel=1e-6)  # cos 0
    # The student may be narrower than the teacher: cosines compare across dimensions.
    wide_teacher = torch.cat([REL_TEACHER, torch.zeros(3, 5)], dim=1)
    assert RelationalDistillationLoss()(REL_STUDENT, wide_teacher).item() == pytest.approx(2 / 3, rel=1e-6)
    # One image has no pair: zero, with a graph.
    single = REL_STUDENT[:1].clone().requires_grad_(True)
    value = RelationalDistillationLoss()(single, REL_TEACHER[:1])
    value.backward()
    assert value.item() == 0.0


def test_distillation_loss_weighs_each_term() -> None:
    # The two hand-worked batches share their first two images; on the three-image batch:
    #   embedding (cosine): 1 - cos per image: s0.t0 = 1 -> 0;  s1.t1 = (0,1).(1,0) = 0 -> 1;  s2.t2 = 0.8 -> 0.2
    #                       mean (0 + 1 + 0.2) / 3 = 0.4
    #   relation: 2 / 3 (above)
    #   weights 2 and 0.5:  2 * 0.4 + 0.5 * 2/3 = 0.8 + 0.333333 = 1.133333
    loss = DistillationLoss(embedding_weight=2.0, relation_weight=0.5)
    assert loss(REL_STUDENT, REL_TEACHER).item() == pytest.approx(0.8 + 1 / 3, rel=1e-6)
    assert loss.last_terms == pytest.approx({"distill_embedding": 0.4, "distill_relation": 2 / 3})
    assert loss.last_active_fraction == 1.0 and loss.metric is None
    # A weight of 0 leaves its term out altogether.
    only_relation = DistillationLoss(embedding_weight=0.0, relation_weight=1.0)
    assert only_relation(REL_STUDENT, REL_TEACHER).item() == pytest.approx(2 / 3, rel=1e-6)
    assert set(only_relation.last_terms) == {"distill_relation"}
    # The metric loss is added with its weight: 1.133333 + 0.25 * 4 = 2.133333.
    metric = torch.nn.Identity()
    metric.last_active_fraction = 0.3
    with_metric = DistillationLoss(2.0, 0.5, metric=metric, metric_weight=0.25)
    total = with_metric.add_metric(with_metric(REL_STUDENT, REL_TEACHER), torch.tensor(4.0))
    assert total.item() == pytest.approx(0.8 + 1 / 3 + 0.25 * 4.0, rel=1e-6)
    assert with_metric.last_terms["metric_loss"] == 4.0 and with_metric.last_active_fraction == 0.3
    assert DistillationLoss(metric=metric, metric_weight=0.0).metric is None  # weight 0: no metric loss


def test_training_on_the_distillation_terms_brings_the_student_to_its_teacher() -> None:
    """Three epochs of a small CNN towards a fixed random network's embeddings (the teacher): the mean cosine to the
    teacher on held-out images rises, and both terms fall."""
    from model.config import TrainConfig
    from model.inference import embed_images
    from model.networks import EmbeddingNet
    from model.train import build_loss, build_sampler, lr_schedule, train_epoch
    from model.transforms import BatchAugment

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(160, 16, 16, 3)).astype(np.uint8)
    images[:, 4:12, 4:12] = rng.integers(0, 256, size=(160, 1, 1, 3))  # a coloured square: something to see
    labels = np.repeat(np.arange(16), 10)
    teacher = EmbeddingNet("small_cnn", dim=8, pretrained=False)
    targets = embed_images(teacher, images)
    config = TrainConfig(teacher="fake", backbone="small_cnn", dim=8, batch_size=16, pairs_per_epoch=64, image_size=16)
    student = EmbeddingNet("small_cnn", dim=8, pretrained=False)
    loss_fn = build_loss(config, num_classes=16, teacher_dim=8)
    assert isinstance(loss_fn, DistillationLoss)
    sampler = build_sampler(config, labels[:128])
    optimizer = torch.optim.AdamW([*student.parameters(), *loss_fn.parameters()], lr=3e-3)
    epochs = 3
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_schedule(epochs * len(sampler.batches(0)), 2))

    def agreement() -> float:
        return float(np.mean(np.sum(embed_images(student, images[128:]) * targets[128:], axis=1)))

    before = agreement()
    stats = [
        train_epoch(config, student, BatchAugment(hflip=False, max_rotate_deg=0, max_shift=0, scale=(1, 1)), loss_fn, None,
                    optimizer, scheduler, torch.from_numpy(images[:128]), torch.from_numpy(labels[:128]), sampler, e,
                    targets=torch.from_numpy(targets[:128]))
        for e in range(epochs)
    ]
    assert {"distill_embedding", "distill_relation"} <= set(stats[0]) and "metric_loss" not in stats[0]
    assert stats[-1]["distill_embedding"] < stats[0]["distill_embedding"]
    assert stats[-1]["distill_relation"] < stats[0]["distill_relation"]
    after = agreement()
    # measured here: 0.23 before, 0.99 after
    assert after > before + 0.3, (before, after)
