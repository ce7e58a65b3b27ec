"""Widgets draw their default figure everywhere, and create no widget while nbgrader runs."""
import ipywidgets as W
import matplotlib

matplotlib.use("Agg")

from course import widgets  # noqa: E402


def test_slider_figure_draws_the_default_and_is_interactive(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    calls = []
    w = widgets.slider_figure(lambda rank: calls.append(rank), rank=widgets.int_slider(3, 1, 9, "rank"))
    assert isinstance(w, W.interactive), f"expected an ipywidgets.interactive, got {type(w)}"
    assert calls == [3], f"the default figure should be drawn once with rank=3, got calls {calls}"
    w.children[0].value = 5
    assert calls == [3, 5], f"moving the slider should redraw with rank=5, got calls {calls}"


def test_slider_figure_only_draws_the_default_while_nbgrader_runs(monkeypatch):
    # nbgrader's Validate, run inside the Jupyter server, waited its full cell timeout on a
    # cell that created a widget; while grading nobody can move a control anyway
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    calls = []
    w = widgets.slider_figure(lambda user, rank: calls.append((user, rank)),
                              user=widgets.int_slider(7, 0, 9, "user"),
                              rank=widgets.dropdown([1, 2], 2, "rank"))
    assert w is None, f"no widget should be created while grading, got {type(w)}"
    assert calls == [(7, 2)], f"the default figure should be drawn once, got calls {calls}"
