"""PNG scatter plots of 2-D points coloured by class: the largest classes get a colour and a legend entry each,
the rest are drawn in grey underneath (dozens of colours could not be told apart)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DEFAULT_TOP = 10
OTHERS_COLOUR = "#b0b0b0"
CLASS_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#111111",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#9edae5", "#dbdb8d", "#555555",
)
"""Matplotlib's tab10 then tab20's light shades, the greys replaced by black and dark grey: grey means "other"."""


def top_classes(labels: np.ndarray, top: int) -> list[int]:
    """The ``top`` most frequent labels, most frequent first (ties: lower label first)."""
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    order = np.lexsort((values, -counts))
    return [int(v) for v in values[order][:top]]


def scatter_plot(
    points: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    path: Path,
    title: str,
    top: int = DEFAULT_TOP,
    dpi: int = 120,
) -> Path:
    """Write ``points`` (N, 2) to the PNG ``path``, coloured by ``labels`` (indices into ``classes``)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    points = np.asarray(points)
    labels = np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise ValueError(f"expected (N, 2) points with N labels, got {points.shape} and {labels.shape}")
    shown = top_classes(labels, top)
    size = 14 if len(points) <= 500 else 8 if len(points) <= 2000 else 5

    fig, ax = plt.subplots(figsize=(9.5, 7.0), dpi=dpi, layout="constrained")
    others = ~np.isin(labels, shown)
    if others.any():
        ax.scatter(
            points[others, 0], points[others, 1], s=size, c=OTHERS_COLOUR, alpha=0.6, linewidths=0,
            label=f"other {len(np.unique(labels[others]))} classes ({int(others.sum())})",
        )
    for rank, label in enumerate(shown):
        mask = labels == label
        ax.scatter(
            points[mask, 0], points[mask, 1], s=size * 1.6, color=CLASS_PALETTE[rank % len(CLASS_PALETTE)], alpha=0.85, linewidths=0,
            label=f"{classes[label].replace('_', ' ')} ({int(mask.sum())})",
        )
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal", adjustable="datalim")
    handles, names = ax.get_legend_handles_labels()
    if others.any():  # the grey "others" entry last, after the named classes
        handles, names = handles[1:] + handles[:1], names[1:] + names[:1]
    ax.legend(handles, names, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, markerscale=2.0, frameon=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
