"""The --step view: an anywidget showing the StepModel of a recorded run, step by step, with a
slider per input. Imported only for --step (anywidget is an optional dependency)."""
from __future__ import annotations

from typing import Any

import anywidget
import numpy as np
import traitlets

from .errors import type_name
from .offline import STATIC, key_of
from .stepper import StepModel, step_model
from .tangentstep import forward_model_of


class StepView(anywidget.AnyWidget):
    """Steps through a recorded backward pass: ◀ ▶, play, the ← → keys, a click on a node, sliders."""

    _esm = STATIC / "step.js"
    _css = STATIC / "step.css"

    target = traitlets.Unicode().tag(sync=True)
    svg = traitlets.Unicode().tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    step = traitlets.Int(0).tag(sync=True)
    highlight = traitlets.Dict().tag(sync=True)
    grads = traitlets.Dict().tag(sync=True)
    lines = traitlets.List().tag(sync=True)
    paths = traitlets.Dict().tag(sync=True)
    elements = traitlets.Dict().tag(sync=True)
    inputs = traitlets.List().tag(sync=True)
    values = traitlets.Dict().tag(sync=True)
    notes = traitlets.List().tag(sync=True)
    words = traitlets.Dict().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    quiz = traitlets.List().tag(sync=True)  # --quiz: per step, its questions (stepper._questions)
    key = traitlets.Unicode("").tag(sync=True)  # shared with the offline twin (offline.py), which the page hides

    def __init__(self, recorded: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._recorded = recorded
        self._frames = forward_model_of if recorded.view.mode == "forward" else None  # None: the backward pass
        self._model = step_model(recorded, frames=self._frames)
        self.key = key_of(self._model)
        self._show(self._model)
        self.values = {spec["name"]: spec["value"] for spec in self._model.inputs}
        self.observe(self._on_step, names="step")
        self.observe(self._on_values, names="values")

    def __repr__(self) -> str:  # what a page without widgets shows (a terminal, nbconvert, no kernel)
        steps = f"{self.total} step{'s' if self.total != 1 else ''}"
        which = "a forward pass to" if self._model.forward else "the backward pass of"
        return (f"<the --step view of {which} {self.target}: {steps}; live, it needs a kernel and a widget "
                "frontend; the output above steps through them in a page that runs scripts, and lists them all "
                "where scripts do not run>")

    def _show(self, model: StepModel) -> None:
        with self.hold_sync():  # one message to the page, not one per trait
            self.target, self.svg, self.total = model.target, model.svg, len(model.steps)
            self.paths, self.elements, self.inputs = model.paths, model.elements, list(model.inputs)
            self.notes, self.words, self.quiz = list(model.notes), model.words, list(model.quiz)
            self.step = max(0, min(self.step, len(model.steps)))
            self._show_step()

    def _show_step(self) -> None:
        view = self._model.at(self.step)
        with self.hold_sync():  # one message: the page draws the step's marks and text together
            self.highlight, self.grads, self.lines = view["highlight"], view["grads"], view["lines"]

    def _on_step(self, change: dict) -> None:
        clamped = max(0, min(change["new"], self.total))
        if clamped != change["new"]:
            self.step = clamped  # observed again, with the clamped value
            return
        self._show_step()

    def _on_values(self, change: dict) -> None:
        try:
            values = {name: float(value) for name, value in change["new"].items()}
            if not all(np.isfinite(list(values.values()))):
                raise ValueError("a value must be a finite number")
            model = step_model(self._recorded, values, self._model.inputs, self._frames)
        except Exception as error:  # a bad value, or one the recorded functions cannot take
            self.error = f"{type_name(error)}: {error}" if not isinstance(error, ValueError) else str(error)
            return
        self.error = ""
        self._model = model
        self._show(model)
