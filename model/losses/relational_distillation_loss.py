"""Relational distillation: the student's similarities between the images of a batch match the teacher's.

Park, Kim, Lu, Cho, "Relational Knowledge Distillation", CVPR 2019, transfer the structure of a teacher's
embedding rather than its coordinates: their distance-wise loss compares the Euclidean distances of every pair of
a batch, each side divided by its mean distance, through a Huber loss. Tung and Mori, "Similarity-Preserving
Knowledge Distillation", ICCV 2019, compare the batch's Gram matrices of (row-normalised) activations, G = A A^T,
through the squared Frobenius norm of their difference divided by b^2. For unit-length embeddings both come to
one thing, the matrix of pairwise cosine similarities, which is what a face search ranks by, so we match those:

    S_s = s s^T,  S_t = t t^T   (N x N cosine similarities of the student's and the teacher's unit vectors)
    L = mean over i != j of (S_s[i, j] - S_t[i, j])^2

The diagonal (every image's similarity with itself, 1 on both sides) is left out; each unordered pair counts once
(the matrices are symmetric, so the mean over ordered pairs is the same). Unlike Park et al. we take no
mean-distance normalisation (unit vectors already fix the scale) and a squared error instead of the Huber loss;
unlike Tung and Mori the matrices are of the final embeddings, not of intermediate activations.

The loss is blind to a rotation of the student's space: any orthogonal map of the teacher's embeddings scores 0.
It needs no labels and no common dimension: the student may be narrower than the teacher.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RelationalDistillationLoss(nn.Module):
    """Mean squared difference of the off-diagonal cosine similarities of the student's and the teacher's batch."""

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if len(student) != len(teacher):
            raise ValueError(f"{len(student)} student embeddings for {len(teacher)} teacher embeddings")
        if len(student) < 2:
            return student.sum() * 0  # no pair: zero, still attached to the graph
        i, j = torch.triu_indices(len(student), len(student), offset=1, device=student.device)
        student, teacher = F.normalize(student, dim=1), F.normalize(teacher, dim=1)
        return ((student[i] * student[j]).sum(dim=1) - (teacher[i] * teacher[j]).sum(dim=1)).pow(2).mean()
