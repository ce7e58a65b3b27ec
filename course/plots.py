"""Figure style and small plotting helpers shared by the lessons."""
from __future__ import annotations

import matplotlib.pyplot as plt

__all__ = ["style", "COLORS"]

#: colours by role, so "self", "near twin" and "random" look the same in every lesson
COLORS = {"self": "#1b9e77", "near": "#d95f02", "random": "#7570b3", "prior": "#666666",
          "accent": "#e7298a", "neutral": "#a6761d"}


def style() -> None:
    """Apply the course's figure style (readable sizes, light grid, no top/right spines)."""
    plt.rcParams.update({
        "figure.figsize": (7.0, 3.6), "figure.dpi": 100, "axes.grid": True,
        "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "axes.titlesize": 12, "axes.labelsize": 11, "legend.frameon": False,
        "figure.constrained_layout.use": True,
    })
