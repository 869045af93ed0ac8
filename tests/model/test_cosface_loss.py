"""CosFaceLoss: by-hand values, normalisation, learnable weights, and pytorch-metric-learning as an oracle."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.losses import CosFaceLoss as PMLCosFaceLoss
from pytorch_metric_learning.reducers import MeanReducer

from model.config import LOSSES
from model.losses import CosFaceLoss

# Two classes in 2-D: class 0's weight along x, class 1's along y.
WEIGHT = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
# e0 = (0.6, 0.8) of class 0: cosines (0.6, 0.8).   e1 = (1, 0) of class 1: cosines (1, 0).
EMBEDDINGS = torch.tensor([[0.6, 0.8], [1.0, 0.0]])
LABELS = torch.tensor([0, 1])
# scale 2, margin 0.5:
#   e0: logits 2 (0.6 - 0.5, 0.8) = (0.2, 1.6);  -log softmax_0 = log(1 + exp(1.6 - 0.2)) = log(1 + e^1.4)
#                                                                  = log(5.055200) = 1.620417
#   e1: logits 2 (1, 0 - 0.5) = (2, -1);         -log softmax_1 = log(1 + exp(2 - (-1))) = log(1 + e^3)
#                                                                  = log(21.085537) = 3.048587
#   mean = (1.620417 + 3.048587) / 2 = 2.334502
EXPECTED = (math.log1p(math.exp(1.4)) + math.log1p(math.exp(3.0))) / 2


def _loss(weight: torch.Tensor, margin: float = 0.5, scale: float = 2.0) -> CosFaceLoss:
    loss = CosFaceLoss(num_classes=weight.shape[0], embedding_dim=weight.shape[1], margin=margin, scale=scale)
    with torch.no_grad():
        loss.weight.copy_(weight)
    return loss


def test_by_hand() -> None:
    assert EXPECTED == pytest.approx(2.334502, abs=1e-6)
    assert _loss(WEIGHT)(EMBEDDINGS, LABELS).item() == pytest.approx(EXPECTED, rel=1e-6)


def test_weights_and_embeddings_are_normalised() -> None:
    # Only directions count: scaling the class weights or the embeddings changes nothing.
    scaled = _loss(WEIGHT * torch.tensor([[2.0], [3.0]]))
    assert scaled(EMBEDDINGS * 5, LABELS).item() == pytest.approx(EXPECTED, rel=1e-6)


def test_margin_zero_is_scaled_softmax_cross_entropy() -> None:
    # margin 0: e0 logits (1.2, 1.6) -> log(1 + e^0.4);  e1 logits (2, 0) -> log(1 + e^2).
    expected = (math.log1p(math.exp(0.4)) + math.log1p(math.exp(2.0))) / 2
    assert _loss(WEIGHT, margin=0.0)(EMBEDDINGS, LABELS).item() == pytest.approx(expected, rel=1e-6)
    # The margin only ever raises the loss.
    assert _loss(WEIGHT, margin=0.5)(EMBEDDINGS, LABELS).item() > expected


def test_defaults_and_parameters() -> None:
    loss = CosFaceLoss(num_classes=5, embedding_dim=3)
    assert (loss.margin, loss.scale) == (0.35, 64.0)
    params = list(loss.parameters())
    assert len(params) == 1 and params[0].shape == (5, 3) and params[0].requires_grad


def test_training_the_weights_lowers_the_loss() -> None:
    torch.manual_seed(0)
    loss = CosFaceLoss(num_classes=2, embedding_dim=2, margin=0.35, scale=8.0)
    optimiser = torch.optim.SGD(loss.parameters(), lr=0.1)
    before = loss(EMBEDDINGS, LABELS)
    before.backward()
    assert loss.weight.grad is not None and loss.weight.grad.abs().sum() > 0
    for _ in range(20):
        optimiser.step()
        optimiser.zero_grad()
        loss(EMBEDDINGS, LABELS).backward()
    assert loss(EMBEDDINGS, LABELS).item() < before.item() - 0.1


def test_embeddings_receive_gradients() -> None:
    x = EMBEDDINGS.clone().requires_grad_()
    _loss(WEIGHT)(x, LABELS).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("margin", "scale"), [(0.35, 64.0), (0.2, 16.0)])
def test_matches_pytorch_metric_learning(seed: int, margin: float, scale: float) -> None:
    g = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.randn(16, 8, generator=g), dim=1)
    labels = torch.randint(0, 6, (16,), generator=g)
    ours = CosFaceLoss(num_classes=6, embedding_dim=8, margin=margin, scale=scale)
    # PML's CosFaceLoss (defaults margin 0.35, scale 64, like ours) keeps W as (embedding_size, num_classes),
    # initialised N(0, 1), and normalises its columns and the embeddings (CosineSimilarity); MeanReducer is its
    # default, averaging the per-sample cross-entropies like ours. Give it our weights, transposed.
    pml = PMLCosFaceLoss(num_classes=6, embedding_size=8, margin=margin, scale=scale, reducer=MeanReducer())
    with torch.no_grad():
        pml.W.copy_(ours.weight.t())
    assert ours(x, labels).item() == pytest.approx(pml(x, labels).item(), rel=1e-5)


def test_registry_names_the_loss() -> None:
    assert "cosface" in LOSSES
