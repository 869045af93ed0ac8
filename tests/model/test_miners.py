"""Triplet miners: exact triplets on hand-built batches, and pytorch-metric-learning's miners as oracles."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.miners import BatchHardMiner as PMLBatchHardMiner
from pytorch_metric_learning.miners import MultiSimilarityMiner as PMLMultiSimilarityMiner
from pytorch_metric_learning.miners import TripletMarginMiner as PMLTripletMarginMiner

from model import config
from model.miners import (
    MINERS,
    BatchAllMiner,
    BatchHardMiner,
    MultiSimilarityMiner,
    RandomTripletMiner,
    SemiHardMiner,
    build_miner,
)

# Six points on the x-axis of the plane (so distances are |x_i - x_j|), classes A = 0, B = 1, C = 2:
#   i:      0     1     2     3     4     5
#   x:    0.0   1.0   3.5   0.7   4.0  -1.7
#   class:  A     A     A     B     B     C
# Distances from each anchor to its positives | negatives:
#   0:  1: 1.0  2: 3.5  |  3: 0.7  4: 4.0  5: 1.7
#   1:  0: 1.0  2: 2.5  |  3: 0.3  4: 3.0  5: 2.7
#   2:  0: 3.5  1: 2.5  |  3: 2.8  4: 0.5  5: 5.2
#   3:  4: 3.3          |  0: 0.7  1: 0.3  2: 2.8  5: 2.4
#   4:  3: 3.3          |  0: 4.0  1: 3.0  2: 0.5  5: 5.7
#   5:  (no positive)   |  everything
LINE = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.5, 0.0], [0.7, 0.0], [4.0, 0.0], [-1.7, 0.0]])
LINE_LABELS = torch.tensor([0, 0, 0, 1, 1, 2])

# The PML distance for the hand-built batches: plain Euclidean, without PML's default normalisation.
RAW = LpDistance(normalize_embeddings=False)


def _set(triplets: tuple[torch.Tensor, ...]) -> set[tuple[int, ...]]:
    return set(zip(*(t.tolist() for t in triplets)))


def _check_types(triplets: tuple[torch.Tensor, ...]) -> None:
    assert len(triplets) == 3
    assert all(t.dtype == torch.int64 and t.ndim == 1 and len(t) == len(triplets[0]) for t in triplets)


def _check_valid(triplets: tuple[torch.Tensor, ...], labels: torch.Tensor) -> None:
    a, p, n = triplets
    assert (a != p).all() and (labels[a] == labels[p]).all() and (labels[a] != labels[n]).all()


def _unit_batch(seed: int, n: int = 32, dim: int = 8, classes: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, dim, generator=g), dim=1), torch.randint(0, classes, (n,), generator=g)


# --- batch hard -------------------------------------------------------------------------------------------------

def test_batch_hard_by_hand() -> None:
    # Farthest positive, closest negative:  0 -> (2 at 3.5, 3 at 0.7);  1 -> (2 at 2.5, 3 at 0.3);
    # 2 -> (0 at 3.5, 4 at 0.5);  3 -> (4, 1 at 0.3);  4 -> (3, 2 at 0.5);  5 has no positive.
    triplets = BatchHardMiner()(LINE, LINE_LABELS)
    _check_types(triplets)
    assert [t.tolist() for t in triplets] == [[0, 1, 2, 3, 4], [2, 2, 0, 4, 3], [3, 3, 4, 1, 2]]
    assert _set(triplets) == _set(PMLBatchHardMiner(distance=RAW)(LINE, LINE_LABELS))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_hard_matches_pytorch_metric_learning(seed: int) -> None:
    x, labels = _unit_batch(seed)
    labels[-1] = 99  # an anchor without a positive gives no triplet
    ours = BatchHardMiner()(x, labels)
    _check_valid(ours, labels)
    assert 99 not in labels[ours[0]].tolist()
    assert _set(ours) == _set(PMLBatchHardMiner()(x, labels))


# --- batch all --------------------------------------------------------------------------------------------------

def test_batch_all_counts_by_hand() -> None:
    # All valid triplets: sum over anchors of positives x negatives = 3 anchors of A x (2 x 3) + 2 of B x (1 x 4)
    # + C's anchor x 0 = 18 + 8 = 26.
    triplets = BatchAllMiner(margin=0.25, only_active=False)(LINE, LINE_LABELS)
    _check_types(triplets)
    _check_valid(triplets, LINE_LABELS)
    assert len(triplets[0]) == 26 and len(_set(triplets)) == 26
    # Active with margin 0.25, i.e. d(a,n) < d(a,p) + 0.25:
    #   0,p1 (< 1.25): n3                  1       0,p2 (< 3.75): n3 n5        2
    #   1,p0 (< 1.25): n3                  1       1,p2 (< 2.75): n3 n5 (2.7)  2
    #   2,p0 (< 3.75): n3 n4               2       2,p1 (< 2.75): n4 (not 3 at 2.8)  1
    #   3,p4 (< 3.55): n0 n1 n2 n5         4       4,p3 (< 3.55): n1 n2        2       total 15
    active = BatchAllMiner(margin=0.25)(LINE, LINE_LABELS)
    assert _set(active) == {
        (0, 1, 3), (0, 2, 3), (0, 2, 5), (1, 0, 3), (1, 2, 3), (1, 2, 5), (2, 0, 3), (2, 0, 4), (2, 1, 4),
        (3, 4, 0), (3, 4, 1), (3, 4, 2), (3, 4, 5), (4, 3, 1), (4, 3, 2),
    }
    pml = PMLTripletMarginMiner(margin=0.25, type_of_triplets="all", distance=RAW)
    assert _set(active) == _set(pml(LINE, LINE_LABELS))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("margin", "squared"), [(0.1, False), (0.4, False), (0.3, True)])
def test_batch_all_matches_pytorch_metric_learning(seed: int, margin: float, squared: bool) -> None:
    x, labels = _unit_batch(seed)
    ours = BatchAllMiner(margin=margin, squared=squared)(x, labels)
    # PML's "all" keeps d(a,n) - d(a,p) <= margin, ours < margin: equal but for exact ties.
    pml = PMLTripletMarginMiner(margin=margin, type_of_triplets="all", distance=LpDistance(power=2 if squared else 1))
    assert len(ours[0]) > 0
    assert _set(ours) == _set(pml(x, labels))
    everything = BatchAllMiner(only_active=False)(x, labels)
    assert _set(everything) == _set(PMLTripletMarginMiner(margin=10.0, type_of_triplets="all")(x, labels))
    assert len(everything[0]) > len(ours[0])


# --- semi-hard --------------------------------------------------------------------------------------------------

def test_semi_hard_by_hand() -> None:
    # margin 0.6: the band d_ap < d_an < d_ap + 0.6 for every anchor-positive pair:
    #   0,p1 (1.0, 1.6): none (0.7, 4.0, 1.7)            0,p2 (3.5, 4.1): n4 at 4.0
    #   1,p0 (1.0, 1.6): none (0.3, 3.0, 2.7)            1,p2 (2.5, 3.1): n4 at 3.0, n5 at 2.7 -> closest: n5
    #   2,p0 (3.5, 4.1): none (2.8, 0.5, 5.2)            2,p1 (2.5, 3.1): n3 at 2.8
    #   3,p4 (3.3, 3.9): none (0.7, 0.3, 2.8, 2.4)       4,p3 (3.3, 3.9): none (4.0, 3.0, 0.5, 5.7)
    # Pairs without a semi-hard negative are skipped.
    triplets = SemiHardMiner(margin=0.6)(LINE, LINE_LABELS)
    _check_types(triplets)
    assert _set(triplets) == {(0, 2, 4), (1, 2, 5), (2, 1, 3)}
    assert len(triplets[0]) == 3
    # PML returns every negative in the band; ours is its closest one per anchor-positive pair.
    pml = _set(PMLTripletMarginMiner(margin=0.6, type_of_triplets="semihard", distance=RAW)(LINE, LINE_LABELS))
    assert pml == {(0, 2, 4), (1, 2, 4), (1, 2, 5), (2, 1, 3)}


def test_semi_hard_with_no_band_gives_nothing() -> None:
    # Anchor 0, positive 1 at 1, negative 2 at 0.5 (closer: hard, not semi-hard) -> no triplet.
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, 0.0]])
    a, p, n = SemiHardMiner(margin=0.3)(x, torch.tensor([0, 0, 1]))
    # Anchor 1: positive 0 at 1, negative 2 at 0.5: hard too.
    assert len(a) == len(p) == len(n) == 0 and a.dtype == torch.int64


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("margin", "squared"), [(0.2, False), (0.5, False), (0.4, True)])
def test_semi_hard_matches_pytorch_metric_learning(seed: int, margin: float, squared: bool) -> None:
    x, labels = _unit_batch(seed)
    distance = torch.cdist(x, x) ** (2 if squared else 1)
    ours = SemiHardMiner(margin=margin, squared=squared)(x, labels)
    _check_valid(ours, labels)
    pml_distance = LpDistance(power=2 if squared else 1)
    pml = PMLTripletMarginMiner(margin=margin, type_of_triplets="semihard", distance=pml_distance)
    closest: dict[tuple[int, int], int] = {}
    for a, p, n in _set(pml(x, labels)):
        if (a, p) not in closest or distance[a, n] < distance[a, closest[(a, p)]]:
            closest[(a, p)] = n
    assert len(closest) > 0
    assert _set(ours) == {(a, p, n) for (a, p), n in closest.items()}


# --- multi-similarity -------------------------------------------------------------------------------------------

# Unit vectors at angles (degrees); cosine similarity S = cos(difference of angles).
#   i:       0    1    2     3     4     5
#   angle:   0   50   40   120   180    10
#   class:   A    A    B     B     C     A
ANGLES = [0.0, 50.0, 40.0, 120.0, 180.0, 10.0]
SPHERE = torch.tensor([[math.cos(math.radians(t)), math.sin(math.radians(t))] for t in ANGLES])
SPHERE_LABELS = torch.tensor([0, 0, 1, 1, 2, 0])


def test_multi_similarity_by_hand() -> None:
    # epsilon 0.1. Keep positive p if S_ap - 0.1 < max_n S_an; negative n if S_an + 0.1 > min_p S_ap.
    #   0: pos 1: .643, 5: .985 | neg 2: .766, 3: -.5, 4: -1.   max neg .766: keep 1 (.543), drop 5 (.885).
    #      min pos .643: keep 2 (.866) only.                                        -> (0,1,2)
    #   1: pos 0: .643, 5: .766 | neg 2: .985, 3: .342, 4: -.643.  max neg .985: keep 0, 5.
    #      min pos .643: keep 2 (1.085) only (3: .442).                             -> (1,0,2) (1,5,2)
    #   5: pos 0: .985, 1: .766 | neg 2: .866, 3: -.342, 4: -.985.  max neg .866: drop 0 (.885), keep 1 (.666).
    #      min pos .766: keep 2 (.966) only.                                        -> (5,1,2)
    #   2: pos 3: .174 | neg 0: .766, 1: .985, 4: -.766, 5: .866.  keep 3; keep 0, 1, 5 (> .174 - .1).
    #                                                                               -> (2,3,0) (2,3,1) (2,3,5)
    #   3: pos 2: .174 | neg 0: -.5, 1: .342, 4: .5, 5: -.342.  max neg .5: keep 2; keep 1 (.442), 4 (.6).
    #                                                                               -> (3,2,1) (3,2,4)
    #   4: no positive.                                                             9 triplets in all
    triplets = MultiSimilarityMiner(epsilon=0.1)(SPHERE, SPHERE_LABELS)
    _check_types(triplets)
    expected = {(0, 1, 2), (1, 0, 2), (1, 5, 2), (5, 1, 2), (2, 3, 0), (2, 3, 1), (2, 3, 5), (3, 2, 1), (3, 2, 4)}
    assert _set(triplets) == expected and len(triplets[0]) == 9
    assert _set(triplets) == _pml_multi_similarity(SPHERE, SPHERE_LABELS, 0.1)
    # A larger epsilon keeps more: with 0.3, anchor 0 keeps positive 5 (.685 < .766) too.
    assert (0, 5, 2) in _set(MultiSimilarityMiner(epsilon=0.3)(SPHERE, SPHERE_LABELS))


def _pml_multi_similarity(x: torch.Tensor, labels: torch.Tensor, epsilon: float) -> set[tuple[int, int, int]]:
    """PML's mined positive pairs (a, p) and negative pairs (a, n), joined on the anchor."""
    a1, p, a2, n = PMLMultiSimilarityMiner(epsilon=epsilon)(x, labels)
    negatives: dict[int, list[int]] = {}
    for a, m in zip(a2.tolist(), n.tolist()):
        negatives.setdefault(a, []).append(m)
    return {(a, q, m) for a, q in zip(a1.tolist(), p.tolist()) for m in negatives.get(a, [])}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("epsilon", [0.05, 0.1, 0.3])
def test_multi_similarity_matches_pytorch_metric_learning(seed: int, epsilon: float) -> None:
    x, labels = _unit_batch(seed)
    ours = MultiSimilarityMiner(epsilon=epsilon)(x, labels)
    _check_valid(ours, labels)
    expected = _pml_multi_similarity(x, labels, epsilon)
    assert len(expected) > 0
    assert _set(ours) == expected and len(ours[0]) == len(expected)


# --- random -----------------------------------------------------------------------------------------------------

def test_random_triplets_are_valid_and_cover_every_anchor() -> None:
    miner = RandomTripletMiner(triplets_per_anchor=3, seed=0)
    triplets = miner(LINE, LINE_LABELS)
    _check_types(triplets)
    _check_valid(triplets, LINE_LABELS)
    # Anchors 0-4 have a positive and a negative, 3 triplets each; anchor 5 (alone in class C) none.
    assert sorted(triplets[0].tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]


def test_random_triplets_are_reproducible_and_random() -> None:
    first = [RandomTripletMiner(seed=7)(LINE, LINE_LABELS) for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(*first))
    miner = RandomTripletMiner(triplets_per_anchor=50, seed=7)
    a, p, n = miner(LINE, LINE_LABELS)
    # Over 50 draws, anchor 0 meets both its positives and all three negatives.
    assert set(p[a == 0].tolist()) == {1, 2} and set(n[a == 0].tolist()) == {3, 4, 5}
    again = miner(LINE, LINE_LABELS)  # the next call draws anew
    assert not all(torch.equal(x, y) for x, y in zip((a, p, n), again))


def test_one_class_gives_no_triplets_for_every_miner() -> None:
    labels = torch.zeros(4, dtype=torch.long)
    for name in MINERS:
        triplets = build_miner(name)(SPHERE[:4], labels)
        _check_types(triplets)
        assert len(triplets[0]) == 0, name


def test_registry() -> None:
    assert MINERS == ("random", "batch-all", "batch-hard", "semi-hard", "multi-similarity")
    assert MINERS == config.MINERS  # one spelling: the registry's names are --miner's choices
    assert isinstance(build_miner("semi-hard", margin=0.3), SemiHardMiner)
    assert build_miner("batch-all", margin=0.4, only_active=False).margin == 0.4
    with pytest.raises(ValueError):
        build_miner("nope")
