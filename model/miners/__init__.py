"""Triplet miners: which (anchor, positive, negative) triplets of a batch the triplet loss sees.

Every miner is called as ``miner(embeddings, labels) -> (anchor, positive, negative)``, three int64 tensors of
one length on the embeddings' device, computed without gradients from the detached embeddings.
"""

from __future__ import annotations

from model.miners.batch_all_miner import BatchAllMiner
from model.miners.batch_hard_miner import BatchHardMiner
from model.miners.multi_similarity_miner import MultiSimilarityMiner
from model.miners.random_triplet_miner import RandomTripletMiner
from model.miners.semi_hard_miner import SemiHardMiner

_BY_NAME = {
    "random": RandomTripletMiner,
    "batch-all": BatchAllMiner,
    "batch-hard": BatchHardMiner,
    "semi-hard": SemiHardMiner,
    "multi-similarity": MultiSimilarityMiner,
}
"""Spelled as ``--miner`` and ``model.config.MINERS`` spell them."""

MINERS = tuple(_BY_NAME)


def build_miner(name: str, **kwargs):
    """The miner called ``name`` (one of ``MINERS``), built with ``kwargs``."""
    if name not in _BY_NAME:
        raise ValueError(f"unknown miner {name!r}; choose one of {', '.join(MINERS)}")
    return _BY_NAME[name](**kwargs)


__all__ = [
    "MINERS",
    "BatchAllMiner",
    "BatchHardMiner",
    "MultiSimilarityMiner",
    "RandomTripletMiner",
    "SemiHardMiner",
    "build_miner",
]
