"""Numerical differentiation, gradient checking and walking a graph."""
from __future__ import annotations

import collections
import copy
from typing import Any, Callable, Iterator

import numpy as np

from .core import Function, Variable, as_array, backward, using_config
from .functions import is_engine_function


def numerical_diff(f: Callable[[Variable], Any], x: Variable, eps: float = 1e-4) -> np.ndarray:
    """Central difference (f(x + eps) − f(x − eps)) / 2eps, elementwise for an elementwise f."""
    y0 = _data(f(Variable(x.data - eps)))
    y1 = _data(f(Variable(x.data + eps)))
    return (y1 - y0) / (2 * eps)


def numerical_grad(f: Callable[..., Any], *inputs: Any, eps: float = 1e-4) -> list:
    """Central-difference gradient of sum(f(*inputs)) with respect to every input, element by element."""
    arrays = [np.array(as_array(_data(x)), dtype=np.float64) for x in inputs]
    grads = []
    for array in arrays:
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + eps
            high = _scalar_sum(f, arrays)
            array[index] = saved - eps
            low = _scalar_sum(f, arrays)
            array[index] = saved
            grad[index] = (high - low) / (2 * eps)
        grads.append(grad)
    return grads


def _scalar_sum(f: Callable[..., Any], arrays: list) -> float:
    # not under no_grad: f may itself call backward (a check of a second derivative does)
    return float(np.sum(_data(f(*[Variable(a.copy()) for a in arrays]))))


def _data(value: Any) -> Any:
    return value.data if isinstance(value, Variable) else value


class GradientCheckError(AssertionError):
    """Raised by ``gradient_check`` when analytic and numerical gradients disagree."""


def analytic_grad(f: Callable[..., Any], *inputs: Any) -> list:
    """Backprop gradient of sum(f(*inputs)) with respect to every input."""
    xs = [Variable(np.array(as_array(_data(x)), dtype=np.float64)) for x in inputs]
    y = f(*xs)
    if not isinstance(y, Variable):
        raise TypeError(f"gradient_check: f returned {type(y).__name__}; expected a Variable")
    y.grad = np.ones_like(y.data)
    backward(y)
    return [np.zeros_like(x.data) if x.grad is None else x.grad for x in xs]


def gradient_check(
    f: Callable[..., Any], *inputs: Any, rtol: float = 1e-4, atol: float = 1e-5, eps: float = 1e-4
) -> None:
    """Compare backprop with central differences for sum(f(*inputs)); raise GradientCheckError naming the worst element."""
    name = f.__name__ if hasattr(f, "__name__") else type(f).__name__
    analytic = analytic_grad(f, *inputs)
    numeric = numerical_grad(f, *inputs, eps=eps)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        if excess.size and (np.max(excess) > 0 or not np.all(np.isfinite(a))):
            flat = np.nanargmax(np.where(np.isfinite(excess), excess, np.inf))
            worst = tuple(int(k) for k in np.unravel_index(flat, excess.shape))
            where = f"element {list(worst)}" if a.ndim else "the value"
            got, expected = float(a[worst]), float(n[worst])
            raise GradientCheckError(
                f"gradient_check({name}): input {i} (shape {a.shape}), {where}: "
                f"backprop gives {got!r}, central difference gives {expected!r} "
                f"(abs error {abs(got - expected):.3g}, allowed {atol + rtol * abs(expected):.3g})"
            )


def functions_of(y: Variable) -> Iterator[Function]:
    """Every Function that ``y`` depends on, nearest first (an iterative walk: any depth)."""
    seen, queue = set(), collections.deque([y])
    while queue:
        func = queue.popleft().creator
        if func is not None and id(func) not in seen:
            seen.add(id(func))
            yield func
            queue.extend(func.inputs)


def leaves_of(y: Variable) -> list:
    """The Variables without a creator that ``y`` depends on (``y`` itself if it has none)."""
    if y.creator is None:
        return [y]
    found: dict = {}
    for func in functions_of(y):
        for x in func.inputs:
            if x.creator is None:
                found[id(x)] = x
    return list(found.values())


class Replay:
    """The recorded graph under ``output`` as a function of its leaves: re-running each Function's
    forward in generation order, with some leaves given other values, and nothing else.

    The code that built the graph does not run again (its side effects happen once), and a branch
    it took on a value is taken again whatever the new values. Nothing in the graph is changed:
    a user's own Function runs on a copy, in case its forward stores something for its backward.
    """

    def __init__(self, output: Variable) -> None:
        self.output = output
        self.functions = sorted(functions_of(output), key=lambda f: f.generation)

    def values(self, changes: dict) -> dict:
        """Variable -> its array with ``changes`` (leaf Variable -> new array) applied."""
        data = dict(changes)
        with np.errstate(all="ignore"):
            for func in self.functions:
                xs = [data[x] if x in data else x.data for x in func.inputs]
                runner = func if is_engine_function(func) else copy.copy(func)
                ys = runner.forward(*xs)
                ys = ys if isinstance(ys, tuple) else (ys,)
                for ref, y in zip(func.outputs, ys):
                    if ref() is not None:
                        data[ref()] = y
        return data

    def __call__(self, changes: dict) -> np.ndarray:
        """The output's array with ``changes`` applied."""
        data = self.values(changes)
        return data[self.output] if self.output in data else self.output.data

    def rebuild(self, changes: dict) -> dict:
        """Old Variable -> its counterpart in a new graph with ``changes`` applied: each recorded
        Function, copied, is called again on the new Variables, so the new graph can be
        differentiated. The recorded graph is not touched."""
        new: dict = {}

        def counterpart(x: Variable) -> Variable:
            if x not in new:
                new[x] = Variable(changes[x] if x in changes else x.data, name=x.name)
            return new[x]

        with using_config("enable_backprop", True), np.errstate(all="ignore"):
            for func in self.functions:
                ys = copy.copy(func)(*[counterpart(x) for x in func.inputs])
                ys = ys if isinstance(ys, tuple) else (ys,)
                for ref, y in zip(func.outputs, ys):
                    if ref() is not None:
                        new[ref()] = y
        if self.output not in new:  # the output is a leaf: no function to call
            counterpart(self.output)
        return new


def clear_grads(y: Variable) -> None:
    """Forget the gradients of ``y`` and of every variable it depends on."""
    y.grad = None
    for func in functions_of(y):
        for x in func.inputs:
            x.grad = None


__all__ = [
    "numerical_diff", "numerical_grad", "analytic_grad", "gradient_check", "GradientCheckError",
    "functions_of", "leaves_of", "clear_grads", "Replay",
]
