"""ContrastiveLoss: by-hand values, gradients, the zero-distance case, and pytorch-metric-learning as an oracle."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.losses import ContrastiveLoss as PMLContrastiveLoss
from pytorch_metric_learning.reducers import MeanReducer

from model.config import LOSSES
from model.losses import ContrastiveLoss
from model.losses.contrastive_loss import pair_distance

# Four pairs of 2-D points; every left point is the origin.
#   pair 0, same:      (0,0)-(3,4)      d = sqrt(9 + 16)       = 5
#   pair 1, different: (0,0)-(1,0)      d = 1
#   pair 2, different: (0,0)-(0,3)      d = 3   (beyond margin 2)
#   pair 3, same:      (0,0)-(0.6,0.8)  d = sqrt(0.36 + 0.64)  = 1
LEFT = torch.zeros(4, 2)
RIGHT = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 3.0], [0.6, 0.8]])
SAME = torch.tensor([True, False, False, True])


def test_pair_distance_by_hand() -> None:
    assert torch.allclose(pair_distance(LEFT, RIGHT), torch.tensor([5.0, 1.0, 3.0, 1.0]))


@pytest.mark.parametrize(
    ("power", "pos_margin", "expected"),
    [
        # margin 2.  same: max(0, d - pos_margin)^p;  different: max(0, 2 - d)^p;  mean over 4 pairs.
        # p=2, pm=0:   5^2 + (2-1)^2 + 0 + 1^2             = 25 + 1 + 0 + 1        = 27    -> 27 / 4   = 6.75
        (2.0, 0.0, 6.75),
        # p=1, pm=0:   5 + (2-1) + 0 + 1                   = 7                     -> 7 / 4    = 1.75
        (1.0, 0.0, 1.75),
        # p=2, pm=0.5: (5-0.5)^2 + 1^2 + 0 + (1-0.5)^2     = 20.25 + 1 + 0.25      = 21.5  -> 21.5 / 4 = 5.375
        (2.0, 0.5, 5.375),
        # p=1, pm=0.5: 4.5 + 1 + 0 + 0.5                   = 6                     -> 6 / 4    = 1.5
        (1.0, 0.5, 1.5),
        # p=2, pm=1:   (5-1)^2 + 1 + 0 + max(0, 1-1)^2     = 16 + 1 + 0 + 0        = 17    -> 17 / 4   = 4.25
        (2.0, 1.0, 4.25),
        # p=1, pm=1:   4 + 1 + 0 + 0                       = 5                     -> 5 / 4    = 1.25
        (1.0, 1.0, 1.25),
    ],
)
def test_values_by_hand(power: float, pos_margin: float, expected: float) -> None:
    loss = ContrastiveLoss(margin=2.0, pos_margin=pos_margin, power=power)
    assert loss(LEFT, RIGHT, SAME).item() == pytest.approx(expected, rel=1e-6)
    # "same" may be given as 0/1 numbers as well as booleans.
    assert loss(LEFT, RIGHT, SAME.float()).item() == pytest.approx(expected, rel=1e-6)
    assert loss(LEFT, RIGHT, SAME.long()).item() == pytest.approx(expected, rel=1e-6)


def test_margin_changes_only_the_negatives() -> None:
    # margin 4, p=2, pm=0:  25 + (4-1)^2 + (4-3)^2 + 1 = 25 + 9 + 1 + 1 = 36 -> 36 / 4 = 9
    assert ContrastiveLoss(margin=4.0).forward(LEFT, RIGHT, SAME).item() == pytest.approx(9.0)
    # Default margin 1, p=2: 25 + max(0, 1-1)^2 + 0 + 1 = 26 -> 6.5
    assert ContrastiveLoss()(LEFT, RIGHT, SAME).item() == pytest.approx(6.5)


def test_zero_when_positives_coincide_and_negatives_are_beyond_the_margin() -> None:
    left = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [2.0, 0.0]])
    right = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.5], [0.0, 0.0]])  # negatives at 1.5 and 2 > margin 1
    same = torch.tensor([True, True, False, False])
    for power in (1.0, 2.0):
        assert ContrastiveLoss(margin=1.0, power=power)(left, right, same).item() == pytest.approx(0.0, abs=1e-5)
    # Positives within pos_margin cost nothing either.
    right[0] = torch.tensor([0.3, 0.4])  # d = 0.5
    assert ContrastiveLoss(margin=1.0, pos_margin=0.5)(left, right, same).item() == pytest.approx(0.0, abs=1e-6)
    assert ContrastiveLoss(margin=1.0, pos_margin=0.4)(left, right, same).item() > 0


def test_margin_must_exceed_pos_margin() -> None:
    with pytest.raises(ValueError):
        ContrastiveLoss(margin=0.5, pos_margin=0.5)
    with pytest.raises(ValueError):
        ContrastiveLoss(margin=0.5, pos_margin=1.0)


def _step(left: torch.Tensor, right: torch.Tensor, same: bool, loss: ContrastiveLoss) -> tuple[float, float]:
    """Distance before and after one SGD step on both points."""
    left, right = left.clone().requires_grad_(), right.clone().requires_grad_()
    before = pair_distance(left, right).item()
    optimiser = torch.optim.SGD([left, right], lr=0.05)
    loss(left, right, torch.tensor([same])).backward()
    optimiser.step()
    return before, pair_distance(left, right).item()


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_gradient_pulls_positives_together(power: float) -> None:
    before, after = _step(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.6, 0.8]]), True, ContrastiveLoss(power=power))
    assert after < before - 1e-3


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_gradient_pushes_close_negatives_apart(power: float) -> None:
    before, after = _step(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.3, 0.4]]), False, ContrastiveLoss(power=power))
    assert after > before + 1e-3


def test_no_gradient_for_negatives_beyond_the_margin() -> None:
    left, right = torch.tensor([[0.0, 0.0]], requires_grad=True), torch.tensor([[3.0, 0.0]], requires_grad=True)
    ContrastiveLoss(margin=2.0)(left, right, torch.tensor([False])).backward()
    assert torch.equal(left.grad, torch.zeros(1, 2)) and torch.equal(right.grad, torch.zeros(1, 2))


@pytest.mark.parametrize("power", [1.0, 2.0])
@pytest.mark.parametrize("same", [True, False])
def test_no_nan_gradient_when_embeddings_coincide(power: float, same: bool) -> None:
    point = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    left, right = point.clone().requires_grad_(), point.clone().requires_grad_()
    loss = ContrastiveLoss(margin=1.0, power=power)(left, right, torch.tensor([same, not same]))
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(left.grad).all() and torch.isfinite(right.grad).all()


def _unit_pairs(seed: int, n: int = 24, dim: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    left = F.normalize(torch.randn(n, dim, generator=g), dim=1)
    right = F.normalize(torch.randn(n, dim, generator=g), dim=1)
    # Some pairs close together so that both sides of both hinges are exercised.
    right[:6] = F.normalize(left[:6] + 0.2 * torch.randn(6, dim, generator=g), dim=1)
    return left, right


def _pml(left: torch.Tensor, right: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, margin: float) -> torch.Tensor:
    """PML's loss on the pairs (pos[i], n+pos[i]) and (neg[i], n+neg[i]) of the stacked embeddings."""
    n = len(left)
    # PML's default distance is LpDistance(normalize_embeddings=True, p=2, power=1): the inputs are unit already.
    pml = PMLContrastiveLoss(pos_margin=0, neg_margin=margin, reducer=MeanReducer())
    return pml(torch.cat([left, right]), indices_tuple=(pos, pos + n, neg, neg + n))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("margin", [0.5, 1.0, 1.4])
def test_matches_pytorch_metric_learning(seed: int, margin: float) -> None:
    left, right = _unit_pairs(seed)
    n = len(left)
    same = torch.rand(n, generator=torch.Generator().manual_seed(100 + seed)) < 0.4
    same[:2], same[2:4] = True, False  # at least two of each (PML ignores index tuples of length <= 1)
    pos, neg = torch.nonzero(same).flatten(), torch.nonzero(~same).flatten()
    empty = torch.empty(0, dtype=torch.long)
    ours = ContrastiveLoss(margin=margin, power=1)(left, right, same)
    # PML's MeanReducer averages the positive and the negative pairs separately; our loss is the mean over all
    # pairs, i.e. the two means weighted by the pair counts.
    pml_pos = _pml(left, right, pos, empty, margin)
    pml_neg = _pml(left, right, empty, neg, margin)
    assert ours.item() == pytest.approx(((len(pos) * pml_pos + len(neg) * pml_neg) / n).item(), rel=1e-5, abs=1e-6)
    # With as many positives as negatives, PML's total (sum of the two means) is twice our mean.
    balanced = torch.arange(n) % 2 == 0
    pos, neg = torch.nonzero(balanced).flatten(), torch.nonzero(~balanced).flatten()
    ours = ContrastiveLoss(margin=margin, power=1)(left, right, balanced)
    assert ours.item() == pytest.approx(_pml(left, right, pos, neg, margin).item() / 2, rel=1e-5, abs=1e-6)
    assert ours.item() > 0


def test_registry_names_the_loss() -> None:
    assert "contrastive" in LOSSES


def test_all_pairs_by_hand() -> None:
    # Three 1-D points a=0 (class 0), b=0.5 (class 0), c=0.7 (class 1); margin 1, power 2.
    # Pairs: (a,b) positive, d=0.5 -> 0.25;  (a,c) negative, d=0.7 -> (1-0.7)^2 = 0.09;
    #        (b,c) negative, d=0.2 -> (1-0.2)^2 = 0.64.  Loss = 0.25 + (0.09 + 0.64) / 2 = 0.615.
    x = torch.tensor([[0.0], [0.5], [0.7]])
    labels = torch.tensor([0, 0, 1])
    assert ContrastiveLoss(margin=1.0).all_pairs(x, labels).item() == pytest.approx(0.615, abs=1e-6)


def test_all_pairs_with_one_class_has_no_negative_term() -> None:
    # All positive: (0,1) d=1 -> 1, (0,2) d=2 -> 4, (1,2) d=1 -> 1; mean 2; no negatives.
    x = torch.tensor([[0.0], [1.0], [2.0]], requires_grad=True)
    loss = ContrastiveLoss(margin=1.0).all_pairs(x, torch.tensor([3, 3, 3]))
    assert loss.item() == pytest.approx(2.0)
    loss.backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_all_pairs_matches_pytorch_metric_learning(seed: int) -> None:
    # PML's ContrastiveLoss forms every pair of the batch and its MeanReducer averages the positive and the
    # negative terms separately before adding them: the same balance as ours, with the hinge not squared.
    generator = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.randn(24, 8, generator=generator), dim=1)
    labels = torch.randint(0, 4, (24,), generator=generator)
    ours = ContrastiveLoss(margin=0.8, power=1).all_pairs(x, labels)
    oracle = PMLContrastiveLoss(pos_margin=0.0, neg_margin=0.8, reducer=MeanReducer())(x, labels)
    assert ours.item() == pytest.approx(oracle.item(), rel=1e-5)


def test_nonzero_reducer_by_hand() -> None:
    # The four pairs at the top, margin 2, p=2: terms 25 (pos), 1 (neg), 0 (neg, beyond the margin), 1 (pos).
    # Drawn pairs, "nonzero": the mean of the three non-zero terms = (25 + 1 + 1) / 3 = 9.
    assert ContrastiveLoss(margin=2.0, reducer="nonzero")(LEFT, RIGHT, SAME).item() == pytest.approx(9.0)
    # All pairs of three 1-D points a=0, b=0.5 (class 0), c=1.2 (class 1), margin 1, p=2:
    #   (a,b) positive d=0.5 -> 0.25;  (a,c) negative d=1.2 -> 0 (satisfied);  (b,c) negative d=0.7 -> 0.09.
    #   "mean":    0.25 + (0 + 0.09) / 2 = 0.295;   "nonzero": 0.25 + 0.09 / 1 = 0.34.
    x = torch.tensor([[0.0], [0.5], [1.2]])
    labels = torch.tensor([0, 0, 1])
    assert ContrastiveLoss(margin=1.0).all_pairs(x, labels).item() == pytest.approx(0.295, abs=1e-6)
    assert ContrastiveLoss(margin=1.0, reducer="nonzero").all_pairs(x, labels).item() == pytest.approx(0.34, abs=1e-6)


def test_nonzero_reducer_keeps_the_gradient_of_the_last_hard_pairs() -> None:
    # Nine satisfied negatives and one inside the margin: the plain mean divides its gradient by ten.
    x = torch.tensor([[0.0]] + [[5.0 + i] for i in range(9)] + [[0.5]], requires_grad=True)
    labels = torch.arange(11)
    grads = []
    for reducer in ("mean", "nonzero"):
        x.grad = None
        ContrastiveLoss(margin=1.0, reducer=reducer).all_pairs(x, labels).backward()
        grads.append(x.grad[-1].abs().item())
    assert grads[1] > 5 * grads[0] > 0


def test_nonzero_reducer_with_every_pair_satisfied_is_zero_with_a_graph() -> None:
    # The positive pair inside its margin (0.05 < 0.1), both negatives beyond 1: every term is zero.
    x = torch.tensor([[0.0], [0.05], [3.0]], requires_grad=True)
    loss = ContrastiveLoss(margin=1.0, pos_margin=0.1, reducer="nonzero").all_pairs(x, torch.tensor([0, 0, 1]))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("pos_margin", [0.0, 0.3])
def test_all_pairs_nonzero_matches_pytorch_metric_learning_default(seed: int, pos_margin: float) -> None:
    # PML's ContrastiveLoss reduces with AvgNonZeroReducer by default: each term averaged over its non-zero pairs.
    generator = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.randn(32, 8, generator=generator), dim=1)
    labels = torch.randint(0, 4, (32,), generator=generator)
    ours = ContrastiveLoss(margin=0.8, pos_margin=pos_margin, power=1, reducer="nonzero").all_pairs(x, labels)
    oracle = PMLContrastiveLoss(pos_margin=pos_margin, neg_margin=0.8)(x, labels)
    assert ours.item() == pytest.approx(oracle.item(), rel=1e-5)


def test_unknown_reducer_is_refused() -> None:
    with pytest.raises(ValueError, match="reducer 'median' is not one of mean, nonzero"):
        ContrastiveLoss(reducer="median")
