"""Interactive figures: sliders in JupyterLab, the default figure when run headless.

``ipywidgets.interactive`` draws once with the default values when it is created, so
executing a lesson without a browser (tests, the benchmark) still produces the default
figure; in JupyterLab moving a control redraws it. While nbgrader validates or grades, nobody
can move a control: only the default figure is drawn, and no widget is created.
"""
from __future__ import annotations

from typing import Callable

import ipywidgets as W
import matplotlib.pyplot as plt

from .checks import grading

__all__ = ["slider_figure", "int_slider", "float_slider", "dropdown"]


def int_slider(value: int, lo: int, hi: int, description: str, step: int = 1) -> W.IntSlider:
    return W.IntSlider(value=value, min=lo, max=hi, step=step, description=description,
                       continuous_update=False, style={"description_width": "initial"})


def float_slider(value: float, lo: float, hi: float, description: str,
                 step: float = 0.05) -> W.FloatSlider:
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=description,
                         continuous_update=False, style={"description_width": "initial"})


def dropdown(options, value, description: str) -> W.Dropdown:
    return W.Dropdown(options=options, value=value, description=description,
                      style={"description_width": "initial"})


def slider_figure(draw: Callable[..., None], **controls: W.ValueWidget) -> W.Widget:
    """Link controls to a drawing function and show the result.

    Args:
        draw: called with one keyword per control; draws on the current figure (it may
            create one with ``plt.subplots``). Called once immediately with the defaults.
        **controls: ipywidgets controls, e.g. ``rank=int_slider(1, 1, 50, "rank")``.

    Returns:
        The widget (displayed when it is the cell's last value); None while grading.
    """
    def redraw(**values):
        draw(**values)
        plt.show()

    if grading():
        redraw(**{name: control.value for name, control in controls.items()})
        return None
    return W.interactive(redraw, **controls)
