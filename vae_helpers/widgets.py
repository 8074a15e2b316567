"""Sliders that redraw a figure in place, on ipywidgets 7.7 and 8 alike.

The figure is shown as an ordinary cell output at the sliders' starting values, so a
committed notebook, GitHub, and a headless run all show it; in a live front end each
slider move replaces that same output with a fresh drawing.
"""

from typing import Callable

import matplotlib.pyplot as plt
from IPython.display import display


class InteractiveFigure:
    """Controls plus a figure that ``draw(**values)`` redraws whenever a control changes.

    draw: function of the controls' values returning a matplotlib Figure.
    controls: name -> ipywidgets control (FloatSlider, IntSlider, Dropdown, ...).
    ``draws`` counts the drawings made so far (1 after construction).
    """

    def __init__(self, draw: Callable, **controls):
        import ipywidgets

        if not controls:
            raise ValueError("interactive_figure needs at least one control")
        self.draw, self.controls, self.draws = draw, controls, 0
        self.box = ipywidgets.HBox(list(controls.values()))
        display(self.box)
        self._handle = display(self._render(), display_id=True)
        for control in controls.values():
            control.observe(self._on_change, names="value")

    def values(self) -> dict:
        """The controls' current values by name."""
        return {name: control.value for name, control in self.controls.items()}

    def _render(self):
        figure = self.draw(**self.values())
        if figure is None:
            raise TypeError("the draw function must return the matplotlib Figure it drew")
        plt.close(figure)
        self.draws += 1
        self.figure = figure
        return figure

    def _on_change(self, _change) -> None:
        self._handle.update(self._render())


def interactive_figure(draw: Callable, **controls) -> InteractiveFigure:
    """Show ``controls`` and the figure ``draw(**values)``; redraw in place on every change.

    Example::

        panel = interactive_figure(draw_kl, mu=FloatSlider(value=0, min=-3, max=3),
                                   sigma=FloatSlider(value=1, min=0.2, max=3))
        panel.controls["mu"].value = 1.0   # what a learner's drag does: the figure redraws
    """
    return InteractiveFigure(draw, **controls)
