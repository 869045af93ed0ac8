"""Embedding distillation: the student regresses the teacher's embedding of the same image.

Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", NIPS workshop 2014, distilled a teacher's
soft class scores; for an embedding the target is the teacher's vector itself, which needs no classes at all:
Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015, regressed a teacher's intermediate features with
an L2 loss through a learnt projection; face-recognition distillation regresses the final, normalised embedding,
often by its angle (Duong, Luu, Quach, Bui, "ShrinkTeaNet", arXiv:1905.10620, 2019). For unit vectors s
(student) and t (teacher) of one image:

    cosine:  L = 1 - cos(s, t) = 1 - s . t
    l2:      L = ||s - t||         (the Euclidean distance the index searches)

averaged over the batch. For unit vectors ||s - t||^2 = 2 - 2 cos(s, t), so a squared L2 would only be the cosine
loss doubled; the plain distance has the same optimum but a gradient that does not fade as s nears t.

When the student's dimension differs from the teacher's, a linear projection (no bias; FitNets' regressor) maps
the student's vector to the teacher's width before it is normalised again. The projection is a parameter of this
module, trained with the network, and used by the loss only: the student's own vector is its embedding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.config import DISTANCES
from model.losses.contrastive_loss import pair_distance


class EmbeddingDistillationLoss(nn.Module):
    """Mean distance between the student's embeddings (N, student_dim) and the teacher's (N, teacher_dim)."""

    def __init__(self, distance: str = "cosine", student_dim: int | None = None, teacher_dim: int | None = None) -> None:
        super().__init__()
        if distance not in DISTANCES:
            raise ValueError(f"distance {distance!r} is not one of {', '.join(DISTANCES)}")
        self.distance = distance
        needs_projection = student_dim is not None and teacher_dim is not None and student_dim != teacher_dim
        self.projection = nn.Linear(student_dim, teacher_dim, bias=False) if needs_projection else None

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if self.projection is not None:
            student = self.projection(student)
        if student.shape != teacher.shape:
            raise ValueError(f"student embeddings {tuple(student.shape)} and teacher embeddings {tuple(teacher.shape)} differ")
        student, teacher = F.normalize(student, dim=1), F.normalize(teacher, dim=1)
        if self.distance == "cosine":
            return (1.0 - (student * teacher).sum(dim=1)).mean()
        return pair_distance(student, teacher).mean()
