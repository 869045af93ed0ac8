"""The objective of a distilled run: the weighted embedding and relational distillation terms, and the metric loss.

    L = w_emb * EmbeddingDistillationLoss(s, t) + w_rel * RelationalDistillationLoss(s, t) + w_metric * metric

Each weight is a flag (``--distill-embedding``, ``--distill-relation``, ``--metric-weight``), so that each term's
contribution can be measured by switching it off (weight 0: the term is not even computed). The distillation
terms need the teacher's embeddings of the batch's images (``model.teacher``), not labels; the metric loss
(contrastive, triplet or CosFace, ``model.losses``) needs labels and, for the triplet loss, a miner, so the
trainer computes it (``model.train.batch_loss``) and this module adds it with its weight. Every term's last value
is kept in ``last_terms`` for the training log.
"""

from __future__ import annotations

import torch
from torch import nn

from model.losses.embedding_distillation_loss import EmbeddingDistillationLoss
from model.losses.relational_distillation_loss import RelationalDistillationLoss


class DistillationLoss(nn.Module):
    """The distillation terms of a batch (``forward``) and the weighted metric loss (``add_metric``).

    Its parameters are the embedding term's projection (when the student's width differs from the teacher's) and
    the metric loss's own (CosFace's class weights): the trainer hands them to its optimiser."""

    def __init__(
        self, embedding_weight: float = 1.0, relation_weight: float = 1.0, distance: str = "cosine",
        student_dim: int | None = None, teacher_dim: int | None = None,
        metric: nn.Module | None = None, metric_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.embedding_weight, self.relation_weight = float(embedding_weight), float(relation_weight)
        self.embedding = EmbeddingDistillationLoss(distance, student_dim, teacher_dim)
        self.relation = RelationalDistillationLoss()
        self.metric = metric if metric_weight else None
        self.metric_weight = float(metric_weight)
        self.last_terms: dict[str, float] = {}
        """Each term's value in the last batch, unweighted: distill_embedding, distill_relation, metric_loss."""

    @property
    def last_active_fraction(self) -> float:
        """The metric loss's share of active pairs or triplets; without one, every image carries a term: 1."""
        return self.metric.last_active_fraction if self.metric is not None else 1.0

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """The weighted distillation terms of a batch: the student's embeddings (N, D) and the teacher's (N, T)."""
        teacher = teacher.to(student.dtype)
        terms = {}
        if self.embedding_weight:
            terms["distill_embedding"] = (self.embedding_weight, self.embedding(student, teacher))
        if self.relation_weight:
            terms["distill_relation"] = (self.relation_weight, self.relation(student, teacher))
        self.last_terms = {name: float(value.detach()) for name, (_, value) in terms.items()}
        return sum((weight * value for weight, value in terms.values()), student.sum() * 0)

    def add_metric(self, distilled: torch.Tensor, metric_loss: torch.Tensor) -> torch.Tensor:
        """``distilled`` plus the metric loss times its weight."""
        self.last_terms["metric_loss"] = float(metric_loss.detach())
        return distilled + self.metric_weight * metric_loss
