"""TripletMarginLoss: by-hand values, the active fraction, gradients, no triplets, and pytorch-metric-learning as
an oracle (with the same triplets, a MeanReducer and the matching distance)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.losses import TripletMarginLoss as PMLTripletMarginLoss
from pytorch_metric_learning.reducers import AvgNonZeroReducer, MeanReducer

from model.config import LOSSES
from model.losses import TripletMarginLoss
from model.miners import BatchAllMiner, BatchHardMiner

# Five 2-D points:  e0 = (0, 0) [class 0]   e1 = (1, 0) [0]   e2 = (0, 0.5) [1]   e3 = (3, 4) [1]   e4 = (0, 2) [1]
POINTS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.5], [3.0, 4.0], [0.0, 2.0]])
LABELS = torch.tensor([0, 0, 1, 1, 1])
# Four triplets (a, p, n) with their distances d(a,p), d(a,n):
#   (0, 1, 2):  d_ap = 1,    d_an = 0.5
#   (0, 1, 3):  d_ap = 1,    d_an = sqrt(9 + 16) = 5
#   (2, 4, 0):  d_ap = 1.5,  d_an = 0.5
#   (0, 1, 4):  d_ap = 1,    d_an = 2
TRIPLETS = (torch.tensor([0, 0, 2, 0]), torch.tensor([1, 1, 4, 1]), torch.tensor([2, 3, 0, 4]))


def test_hinge_by_hand() -> None:
    # margin 0.2:  1 - 0.5 + 0.2 = 0.7;  1 - 5 + 0.2 < 0 -> 0;  1.5 - 0.5 + 0.2 = 1.2;  1 - 2 + 0.2 < 0 -> 0.
    # Mean over all four triplets, zeros included: (0.7 + 1.2) / 4 = 0.475.  Active: 2 of 4.
    loss = TripletMarginLoss(margin=0.2)
    assert loss(POINTS, LABELS, TRIPLETS).item() == pytest.approx(0.475, rel=1e-6)
    assert loss.last_active_fraction == pytest.approx(0.5)
    assert loss.last_triplet_count == 4
    # margin 1.1:  0.5 + 1.1 = 1.6;  -4 + 1.1 < 0;  1 + 1.1 = 2.1;  -1 + 1.1 = 0.1  ->  3.8 / 4 = 0.95;
    # 3 of 4 active.
    loss = TripletMarginLoss(margin=1.1)
    assert loss(POINTS, LABELS, TRIPLETS).item() == pytest.approx(0.95, rel=1e-6)
    assert loss.last_active_fraction == pytest.approx(0.75)


def test_triplet_exactly_at_the_margin_is_inactive() -> None:
    # Anchor (0, 0), positive (1, 0), negative (0, 1.5), margin 0.5: 1 - 1.5 + 0.5 = 0 exactly (all exact in
    # float32): zero loss, so not active.
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.5], [0.0, 0.5]])
    loss = TripletMarginLoss(margin=0.5)
    triplets = (torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([2, 3]))
    # Second triplet: 1 - 0.5 + 0.5 = 1.  Mean (0 + 1) / 2 = 0.5, one of two active.
    assert loss(x, torch.tensor([0, 0, 1, 1]), triplets).item() == pytest.approx(0.5)
    assert loss.last_active_fraction == 0.5


def test_squared_by_hand() -> None:
    # Squared distances: d_ap^2 = 1, 1, 2.25, 1;  d_an^2 = 0.25, 25, 0.25, 4.
    #   1 - 0.25 + 0.2 = 0.95;  1 - 25 + 0.2 < 0;  2.25 - 0.25 + 0.2 = 2.2;  1 - 4 + 0.2 < 0.  -> 3.15 / 4 = 0.7875
    loss = TripletMarginLoss(margin=0.2, squared=True)
    assert loss(POINTS, LABELS, TRIPLETS).item() == pytest.approx(0.7875, rel=1e-6)
    assert loss.last_active_fraction == pytest.approx(0.5)


def test_soft_margin_by_hand() -> None:
    # softplus(d_ap - d_an) = log(1 + exp(x)) for x = 0.5, -4, 1, -1; the margin plays no part.
    expected = sum(math.log1p(math.exp(x)) for x in (0.5, -4.0, 1.0, -1.0)) / 4  # = 2.618751 / 4 = 0.654688
    assert expected == pytest.approx(0.654688, abs=1e-6)
    for margin in (0.2, 1.0):
        loss = TripletMarginLoss(margin=margin, soft_margin=True)
        assert loss(POINTS, LABELS, TRIPLETS).item() == pytest.approx(expected, rel=1e-6)
        # Active: the negative no farther than the positive (x > 0): triplets 0 and 2.
        assert loss.last_active_fraction == pytest.approx(0.5)


def test_no_triplets_gives_a_connected_zero() -> None:
    x = POINTS.clone().requires_grad_()
    empty = torch.empty(0, dtype=torch.long)
    loss = TripletMarginLoss()
    loss(x, LABELS, TRIPLETS)  # an earlier call must not leak into the diagnostics
    value = loss(x, LABELS, (empty, empty, empty))
    assert value.item() == 0.0
    assert value.grad_fn is not None
    value.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    assert loss.last_active_fraction == 0.0 and loss.last_triplet_count == 0


def test_mismatched_lengths_and_negative_margin_are_rejected() -> None:
    with pytest.raises(ValueError):
        TripletMarginLoss()(POINTS, LABELS, (torch.tensor([0]), torch.tensor([1]), torch.tensor([2, 3])))
    with pytest.raises(ValueError):
        TripletMarginLoss(margin=-0.1)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("soft_margin", [False, True])
def test_gradient_step_pulls_positive_and_pushes_negative(squared: bool, soft_margin: bool) -> None:
    # Anchor (0,0), positive (1,0) at 1, negative (0,0.5) at 0.5: a violating triplet.
    x = POINTS[:3].clone().requires_grad_()
    triplet = (torch.tensor([0]), torch.tensor([1]), torch.tensor([2]))
    TripletMarginLoss(squared=squared, soft_margin=soft_margin)(x, LABELS[:3], triplet).backward()
    with torch.no_grad():
        moved = x - 0.05 * x.grad
    assert (moved[0] - moved[1]).norm() < 1.0 - 1e-3
    assert (moved[0] - moved[2]).norm() > 0.5 + 1e-3


def test_no_gradient_from_easy_triplets() -> None:
    x = POINTS.clone().requires_grad_()
    TripletMarginLoss(margin=0.2)(x, LABELS, (torch.tensor([0]), torch.tensor([1]), torch.tensor([3]))).backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_no_nan_gradient_when_anchor_and_positive_coincide() -> None:
    x = torch.tensor([[0.6, 0.8], [0.6, 0.8], [1.0, 0.0]], requires_grad=True)
    triplet = (torch.tensor([0]), torch.tensor([1]), torch.tensor([2]))
    loss = TripletMarginLoss(margin=0.5)(x, torch.tensor([0, 0, 1]), triplet)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()


def _batch(seed: int, n: int = 24, dim: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, dim, generator=g), dim=1), torch.randint(0, 4, (n,), generator=g)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("squared", "soft_margin", "margin"), [(False, False, 0.2), (False, False, 0.7),
                                                                  (True, False, 0.5), (False, True, 0.2)])
def test_matches_pytorch_metric_learning(seed: int, squared: bool, soft_margin: bool, margin: float) -> None:
    x, labels = _batch(seed)
    triplets = BatchAllMiner(margin=0.0, only_active=False)(x, labels)  # every valid triplet
    assert len(triplets[0]) > 100
    # PML's TripletMarginLoss: distance LpDistance(p=2, power=1) by default, unsquared (power=2 squares it);
    # its default reducer AvgNonZeroReducer averages over the non-zero losses only, so MeanReducer is ours;
    # its smooth_loss is softplus(d_ap - d_an + margin), so our margin-free soft margin is its margin 0.
    pml = PMLTripletMarginLoss(
        margin=0.0 if soft_margin else margin,
        smooth_loss=soft_margin,
        distance=LpDistance(power=2 if squared else 1),
        reducer=MeanReducer(),
    )
    ours = TripletMarginLoss(margin=margin, squared=squared, soft_margin=soft_margin)(x, labels, triplets)
    assert ours.item() == pytest.approx(pml(x, labels, indices_tuple=triplets).item(), rel=1e-5, abs=1e-7)
    assert ours.item() > 0


@pytest.mark.parametrize("seed", [0, 1])
def test_batch_all_active_is_pml_default_average_over_non_zero(seed: int) -> None:
    # Hermans et al.'s BA≠0: our mean over the batch-all miner's active triplets equals PML's default loss
    # (every triplet of the batch, AvgNonZeroReducer).
    x, labels = _batch(seed)
    loss = TripletMarginLoss(margin=0.3)
    ours = loss(x, labels, BatchAllMiner(margin=0.3)(x, labels))
    assert loss.last_active_fraction == 1.0
    oracle = PMLTripletMarginLoss(margin=0.3, reducer=AvgNonZeroReducer())(x, labels)
    assert ours.item() == pytest.approx(oracle.item(), rel=1e-5)


def test_batch_hard_triplets_are_mostly_active() -> None:
    x, labels = _batch(3)
    loss = TripletMarginLoss(margin=0.2)
    loss(x, labels, BatchHardMiner()(x, labels))
    # Random unit vectors in 8-D: the farthest positive is nearly always farther than the closest negative.
    assert loss.last_active_fraction > 0.8


def test_registry_names_the_loss() -> None:
    assert "triplet" in LOSSES
