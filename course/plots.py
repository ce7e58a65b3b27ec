"""Figure style and small plotting helpers shared by the lessons."""
from __future__ import annotations

import matplotlib.pyplot as plt

__all__ = ["style", "COLORS"]

#: colours by role, so "self", "near twin" and "random" look the same in every lesson. Okabe
#: and Ito's colour-blind-safe set (grey for the prior, black for what is neither): every pair
#: stays apart under protan-, deutan- and tritanopia, and each colour has a contrast of at
#: least 3:1 on white (tests/test_book.py checks both)
COLORS = {"self": "#009E73", "near": "#D55E00", "random": "#0072B2", "prior": "#666666",
          "accent": "#CC79A7", "neutral": "#000000"}


def style() -> None:
    """Apply the course's figure style (readable sizes, light grid, no top/right spines)."""
    plt.rcParams.update({
        "figure.figsize": (7.0, 3.6), "figure.dpi": 100, "axes.grid": True,
        "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "axes.titlesize": 12, "axes.labelsize": 11, "legend.frameon": False,
        "figure.constrained_layout.use": True,
        # a line or bar drawn without a colour takes the course's palette, not matplotlib's
        "axes.prop_cycle": plt.cycler(color=list(COLORS.values())),
    })
