"""Multi-similarity mining: Wang, Han, Huang, Dong, Scott, "Multi-Similarity Loss with General Pair Weighting
for Deep Metric Learning", CVPR 2019, section 4.1 (eq. 5 and 6), adapted to triplets.

With cosine similarities S (embeddings normalised here), for an anchor a the paper keeps

    a negative pair (a, n) when S_an + epsilon > min over the positives p of S_ap,
    a positive pair (a, p) when S_ap - epsilon < max over the negatives n of S_an,

i.e. negatives more similar than the anchor's least similar positive (less an epsilon), and positives less similar
than its most similar negative (plus epsilon): the informative pairs. The paper weights these pairs in its own
loss; to feed the triplet loss, this miner returns, for every anchor, every combination of one of its kept
positives with one of its kept negatives. An anchor with no positive or no negative in the batch keeps none.
Pairs are what pytorch-metric-learning's ``MultiSimilarityMiner`` returns; our triplets are exactly its positive
and negative pairs joined on the anchor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class MultiSimilarityMiner:
    """``miner(embeddings, labels) -> (a, p, n)``: per anchor, kept positives x kept negatives."""

    def __init__(self, epsilon: float = 0.1) -> None:
        self.epsilon = float(epsilon)

    @torch.no_grad()
    def __call__(
        self, embeddings: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        unit = F.normalize(embeddings.detach(), dim=1)
        similarity = unit @ unit.t()
        same = labels[:, None] == labels[None, :]
        positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        negative = ~same
        hardest_negative = similarity.masked_fill(~negative, float("-inf")).amax(1, keepdim=True)
        hardest_positive = similarity.masked_fill(~positive, float("inf")).amin(1, keepdim=True)
        kept_positive = positive & (similarity - self.epsilon < hardest_negative)
        kept_negative = negative & (similarity + self.epsilon > hardest_positive)
        a, p, n = torch.nonzero(kept_positive[:, :, None] & kept_negative[:, None, :], as_tuple=True)
        return a, p, n
