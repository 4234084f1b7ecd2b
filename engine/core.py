"""Config, Variable, Function, and the generation-ordered backward pass (``backward``, ``grad``).

Every backward rule is written once and runs in two modes, chosen by the type of the incoming
gradient ``gy``:

* data mode (``gy`` is an ndarray): the rule computes plain numpy arrays. A first-order
  ``backward()`` runs in this mode, so it builds no graph and costs little more than hand-written
  numpy. It is also what the seed notebook's manual calls (``C.backward(y.grad)``) use.
* graph mode (``gy`` is a Variable): the rule builds new graph nodes, so the gradient is itself
  differentiable. ``backward(create_graph=True)`` runs in this mode.

The lowercase functions (``sin``, ``mul``...) make this work: given any Variable they add a node to
the graph, given only arrays or numbers they return the numpy result directly.
"""
from __future__ import annotations

import builtins
import contextlib
import heapq
import itertools
import operator
import weakref
from typing import Any, Callable, Iterable, Iterator, Optional

import numpy as np

from .exceptions import EngineError, NonNumericData, ShapeError, VariableGivenToNumpy, VariableInVariable


# ================================================================ Config


class Config:
    """Global switches: ``enable_backprop`` decides whether calls record the graph."""

    enable_backprop = True


@contextlib.contextmanager
def using_config(name: str, value: Any) -> Iterator[None]:
    """Temporarily set ``Config.<name>`` to ``value``."""
    old = getattr(Config, name)
    setattr(Config, name, value)
    try:
        yield
    finally:
        setattr(Config, name, old)


def no_grad() -> contextlib.AbstractContextManager:
    """Context in which functions compute values but record no graph."""
    return using_config("enable_backprop", False)


# ================================================================ Variable

_FLOAT_KINDS = "f"
# module-level names for the hot paths: one global lookup instead of a global plus an attribute
_ndarray, _float64, _weakref = np.ndarray, np.float64, weakref.ref
_CONVERTIBLE_KINDS = "biu"  # bool, signed and unsigned integers become float64


def as_array(data: Any, what: str = "Variable data") -> np.ndarray:
    """Return ``data`` as a float ndarray; numbers and integer arrays become float64."""
    if type(data) is np.ndarray and data.dtype.kind == "f":
        return data
    if isinstance(data, Variable):
        raise VariableInVariable(f"{what} must be an array or a number, not a Variable", "use x.data")
    if isinstance(data, (bool, int, float, np.number, np.bool_, np.ndarray)):
        array = np.asarray(data)
        kind = array.dtype.kind
        if kind in _FLOAT_KINDS:
            return array
        if kind in _CONVERTIBLE_KINDS:
            return array.astype(np.float64)
        if kind == "c":
            raise NonNumericData(f"{what} is complex ({array.dtype}); only real numbers can be differentiated",
                                 given=type(data))
        raise NonNumericData(f"{what} has dtype {array.dtype}; expected numbers", given=type(data))
    hint = "wrap it with np.array(...)" if isinstance(data, (list, tuple)) else ""
    raise NonNumericData(f"{what} must be a number or a numpy array, got {type(data).__name__}", hint, type(data))


class Variable:
    """A value in the graph: ``data`` (ndarray), ``grad`` and the ``creator`` Function that made it."""

    __slots__ = ("data", "name", "grad", "creator", "generation", "__weakref__")
    __array_ufunc__ = None  # numpy defers to us: ndarray * Variable calls Variable.__rmul__

    def __init__(self, data: Any, name: Optional[str] = None) -> None:
        self.data = as_array(data)
        self.name = name
        self.grad: Any = None
        self.creator: Optional[Function] = None
        self.generation = 0

    # ---------------------------------------------------------------- array-like
    @property
    def shape(self) -> tuple:
        """Shape of ``data``."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """Number of dimensions of ``data``."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """Number of elements of ``data``."""
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        """Dtype of ``data``."""
        return self.data.dtype

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d Variable")
        return len(self.data)

    def __iter__(self) -> Iterator["Variable"]:
        """``x[0], x[1], ...`` over the first axis (each recorded); a 0-d Variable raises, as numpy does."""
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d Variable (it holds one number: use it as it is)")
        return (self[i] for i in range(len(self.data)))

    def __repr__(self) -> str:
        body = np.array2string(self.data, prefix="variable(", separator=", ")
        name = f", name={self.name!r}" if self.name is not None else ""
        return f"variable({body}{name})"

    # ---------------------------------------------------------------- graph
    def set_creator(self, func: "Function") -> None:
        """Record ``func`` as the function that produced this variable."""
        self.creator = func
        self.generation = func.generation + 1

    def cleargrad(self) -> None:
        """Forget the gradient (before reusing the variable in a new backward pass)."""
        self.grad = None

    def backward(
        self,
        retain_grad: bool = False,
        create_graph: bool = False,
        hook: Optional[Callable[..., None]] = None,
    ) -> None:
        """Backpropagate from this variable; see ``backward`` in this module."""
        backward(self, retain_grad=retain_grad, create_graph=create_graph, hook=hook)

    # The arithmetic operators (+ - * / ** @, unary -, abs) and the array methods (reshape,
    # transpose, .T, sum, [...]) are installed by engine.functions, where the functions live.

    # ---------------------------------------------------------------- comparisons and conversions
    # Comparisons compare the data and record nothing, as in every define-by-run framework, so
    # `if x > 0:` in user code takes the branch the value says. Hashing stays by identity.
    __hash__ = object.__hash__

    def __lt__(self, other: Any) -> Any:
        return self.data < _plain(other)

    def __le__(self, other: Any) -> Any:
        return self.data <= _plain(other)

    def __gt__(self, other: Any) -> Any:
        return self.data > _plain(other)

    def __ge__(self, other: Any) -> Any:
        return self.data >= _plain(other)

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return self.data == _plain(other)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
        return self.data != _plain(other)

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self._item("float"))

    def __int__(self) -> int:
        return int(self._item("int"))

    def _item(self, what: str) -> Any:
        if self.data.size != 1:
            raise TypeError(f"{what}() of a Variable of shape {self.data.shape}: only one-element Variables "
                            "convert to a number")
        return self.data.item()

    # the names of the engine's functions (engine.functions.FUNCTIONS), set where they are defined
    _function_names: frozenset = frozenset()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise VariableGivenToNumpy("numpy was given an engine Variable, which it cannot differentiate",
                                   "use .data for the plain array (no gradient flows through it)")

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        name = getattr(func, "__name__", "function")
        own = f"use the engine's {name}(...), which records the graph, or " if name in self._function_names else "use "
        raise VariableGivenToNumpy(f"np.{name}() was given an engine Variable",
                                   f"{own}.data for the plain array (no gradient flows through it)")


def _plain(value: Any) -> Any:
    return value.data if isinstance(value, Variable) else value


def as_variable(obj: Any) -> Variable:
    """Return ``obj`` if it is a Variable, else wrap it in a new (constant) Variable."""
    return obj if isinstance(obj, Variable) else Variable(obj)


# ================================================================ Function


class Function:
    """A node of the graph: ``forward`` on arrays, ``backward`` from output to input gradients.

    Subclasses set ``rule``, a one-line statement of the local derivative used by trace displays,
    and may set ``local``: per input, the local derivative written over one step's numbers, as
    (template, value). The template's fields are ``x`` (one input) or ``a`` and ``b`` (two), ``y``
    (the output) and those of ``local_fields()``; ``value(*inputs, y, **fields)`` gives the number
    (``value(x, y)`` for one input, ``value(a, b, y)`` for two), or is None when it is the passed
    gradient over the incoming one. Square's is ("2·{x}", 2x); Mul's first is ("{b}", b).
    """

    # One input and one weakly held output are stored bare, not in 1-tuples: that is two fewer
    # objects per node for the cyclic garbage collector to scan, a third of the cost of a deep graph.
    __slots__ = ("_inputs", "_outputs", "generation", "__dict__")
    rule = ""
    local: tuple = ()

    def __call__(self, *inputs: Any) -> Any:
        for x in inputs:
            if not isinstance(x, Variable):
                inputs = tuple([as_variable(v) for v in inputs])
                break
        try:
            if len(inputs) == 1:  # the common case, kept free of loops
                ys = self.forward(inputs[0].data)
                generation = inputs[0].generation
            elif inputs:
                ys = self.forward(*[x.data for x in inputs])
                generation = builtins.max([x.generation for x in inputs])
            else:
                raise TypeError(f"{type(self).__name__} was called with no inputs")
        except (ValueError, TypeError) as error:
            raise _named_error(self, inputs, error) from error
        if type(ys) is not tuple:
            output = _new_output(self, ys, generation)
            outputs = (output,)
            refs = _weakref(output)
        else:
            output = outputs = tuple([_new_output(self, y, generation) for y in ys])
            refs = tuple([weakref.ref(y) for y in outputs])
        if Config.enable_backprop:
            self.generation = generation
            self._inputs = inputs[0] if len(inputs) == 1 else inputs
            self._outputs = refs
        else:
            for y in outputs:
                y.creator = None
                y.generation = 0
        return output

    def forward(self, *xs: np.ndarray) -> Any:
        """Compute the outputs' arrays from the inputs' arrays."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, *gys: Any) -> Any:
        """Return the gradients of the inputs given those of the outputs."""
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    linear = False  # True: the function is linear in its inputs, so its forward-mode rule is its forward

    def jvp(self, *tangents: np.ndarray) -> Any:
        """Forward mode: the tangent of the output given those of the inputs (arrays), at the recorded inputs."""
        if self.linear:
            return self.forward(*tangents)
        raise NotImplementedError(f"{type(self).__name__} has no forward-mode rule: define jvp(self, *tangents) "
                                  "beside its backward")

    def _primals(self) -> tuple:
        """The inputs' arrays, as the forward pass saw them."""
        return tuple([x.data for x in self.inputs])

    def _output(self) -> np.ndarray:
        """The (first) output's array."""
        return self.outputs[0]().data

    # ---------------------------------------------------------------- graph links
    @property
    def inputs(self) -> tuple:
        """The input Variables."""
        stored = self._inputs
        return (stored,) if isinstance(stored, Variable) else stored

    @property
    def outputs(self) -> tuple:
        """Weak references to the output Variables (call one to get its Variable, or None if freed)."""
        stored = self._outputs
        return stored if type(stored) is tuple else (stored,)

    @property
    def input(self) -> Variable:
        """The only input (the seed notebook's ``f.input``)."""
        if len(self.inputs) != 1:
            raise AttributeError(f"{type(self).__name__} has {len(self.inputs)} inputs; use .inputs")
        return self.inputs[0]

    @property
    def output(self) -> Optional[Variable]:
        """The only output, or None once it has been freed (the seed notebook's ``f.output``)."""
        if len(self.outputs) != 1:
            raise AttributeError(f"{type(self).__name__} has {len(self.outputs)} outputs; use .outputs")
        return self.outputs[0]()

    # ---------------------------------------------------------------- helpers for backward rules
    def inputs_like(self, gy: Any) -> tuple:
        """The inputs as Variables when ``gy`` is a Variable (graph mode), else as their arrays."""
        stored = self._inputs
        if isinstance(gy, Variable):
            return (stored,) if isinstance(stored, Variable) else stored
        if isinstance(stored, Variable):
            return (stored.data,)
        return tuple([x.data for x in stored])

    def outputs_like(self, gy: Any) -> tuple:
        """The outputs as Variables when ``gy`` is a Variable (graph mode), else as their arrays."""
        outputs = tuple([ref() for ref in self.outputs])
        if isinstance(gy, Variable):
            return outputs
        return tuple([y.data for y in outputs])

    def rule_text(self) -> str:
        """The local derivative rule with this node's parameters filled in."""
        return self.rule

    def local_fields(self) -> dict:
        """The numbers of this node that ``local`` templates use besides the inputs and the output."""
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _named_error(func: Function, inputs: tuple, error: Exception) -> Exception:
    """``error`` again, its message prefixed with the function and the input shapes (a ShapeError for a
    ValueError; an engine error keeps its type)."""
    name = type(func).__name__
    if str(error).startswith(name):
        return error
    prefix = f"{name} of shapes {', '.join(str(x.data.shape) for x in inputs)}: "
    if isinstance(error, EngineError):
        return error.prefixed(prefix)
    if isinstance(error, ValueError):
        return ShapeError(f"{prefix}{error}")
    return TypeError(f"{prefix}{error}")  # numpy's subclasses take other arguments


def _new_output(func: Function, y: Any, generation: int) -> Variable:
    """Wrap a forward result in a Variable created by ``func``.

    numpy returns scalars (np.float64) for 0-d results; they are kept as they are, as in the
    seed notebook, because converting each to a 0-d array would double the cost of a scalar op.
    """
    out = Variable.__new__(Variable)
    kind = type(y)
    if kind is not np.float64 and (kind is not np.ndarray or y.dtype.kind != "f"):
        y = _as_data(y, f"{type(func).__name__}.forward's result")
    out.data = y
    out.name = None
    out.grad = None
    out.creator = func
    out.generation = generation + 1
    return out


def _as_data(value: Any, what: str) -> Any:
    """A float ndarray or numpy float scalar for ``value``; other numbers are converted."""
    if isinstance(value, np.floating):
        return value
    return as_array(value, what)


# ================================================================ backward

Hook = Callable[[Function, tuple, tuple, tuple], None]


def backward(
    y: Variable,
    retain_grad: bool = False,
    create_graph: bool = False,
    hook: Optional[Hook] = None,
) -> None:
    """Backpropagate from ``y``: every variable it depends on gets ``.grad`` = d(sum y)/d(variable).

    Functions run in decreasing generation order (see ``_Schedule``), with no recursion, so the
    depth of the graph is limited only by memory. ``y.grad`` starts the pass if it is already set
    (the seed notebook sets it by hand), otherwise ones are used.

    retain_grad: keep the gradients of ``y`` and the intermediate variables; by default only
      leaves keep theirs, so that a later pass through the same nodes starts clean.
    create_graph: make the gradients Variables with their own graph, for higher-order derivatives.
    hook: called as ``hook(function, gys, gxs, accumulated)`` after each function's backward, in
      execution order; ``accumulated[i]`` is True when input i already had a gradient from
      another path and ``gxs[i]`` was added to it.
    """
    if y.grad is None:
        y.grad = np.ones_like(y.data)
    y.grad = _checked_grad(None, y, y.grad, create_graph)
    if y.creator is not None:
        _propagate((y.creator,), _OnVariables(create_graph, retain_grad), create_graph, hook)


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    create_graph: bool = False,
    hook: Optional[Hook] = None,
) -> tuple:
    """The gradients of sum(outputs) with respect to each of ``inputs``, reading and writing no ``.grad``.

    The functional form of ``backward``, as ``torch.autograd.grad``: one gradient per input, in order,
    zeros for an input the outputs do not depend on. ``grad_outputs`` start the pass (ones by default).
    With ``create_graph=True`` the gradients are Variables that can be differentiated again. Only the
    functions on a path from an input to an output run. ``hook`` is called as in ``backward``, with the
    gradients exactly as each backward returned them, except that ``accumulated[i]`` says whether input
    i had a gradient before that function ran (y = a * a gives (False, False) here, (False, True) in
    backward), and is False for a variable that leads to none of ``inputs`` (no gradient is kept for it).
    """
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    starts = _as_tuple(grad_outputs) if grad_outputs is not None else (None,) * len(outputs)
    if len(starts) != len(outputs):
        raise ValueError(f"grad: {_count(len(starts), 'grad_output')} for {_count(len(outputs), 'output')}")
    store = _InDict(functions_between(outputs, inputs), inputs, create_graph, flagged=hook is not None)
    for y, start in zip(outputs, starts):
        start = np.ones_like(y.data) if start is None else start
        store.put(y, _checked_grad(None, y, start, create_graph))
    _propagate([y.creator for y in outputs if y.creator in store.relevant], store, create_graph, hook)
    grads = store.grads
    return tuple(grads[x] if x in grads else _zeros_like(x, create_graph) for x in inputs)


def _propagate(starts: Iterable[Function], store: _OnVariables | _InDict, create_graph: bool,
               hook: Optional[Hook]) -> None:
    """Run each function's backward from ``starts`` down, deepest generation first; ``store`` keeps the gradients.

    The one loop of ``backward`` and ``grad``, which differ only in their store: ``read(func)`` gives
    func's outputs and their gradients; ``add(func, inputs, gxs, queue)`` stores the inputs' gradients,
    queues their creators and gives the hook's ``accumulated``; ``release`` says whether the outputs'
    ``.grad`` are dropped once the step is over (``backward`` without ``retain_grad``).
    """
    schedule = _Schedule(starts)
    heap = schedule.heap
    # everything the loop calls as locals, the schedule's next function taken inline: a deep chain runs
    # this loop once per function, and a method call per step costs a few percent of the step
    read, add, queue, release = store.read, store.add, schedule.add, store.release
    with using_config("enable_backprop", create_graph):
        while True:
            func = schedule.next
            if func is not None:
                schedule.next = None
            elif heap:
                func = heapq.heappop(heap)[2]
            else:
                break
            outputs, gys = read(func)
            try:
                gxs = func.backward(*gys)
            except BaseException as error:
                raise _blamed(error, func)
            if type(gxs) is not tuple:
                gxs = (gxs,)
            inputs = func._inputs
            if type(inputs) is Variable:  # one input, held bare (see Function.__slots__)
                inputs = (inputs,)
            if len(gxs) != len(inputs):
                raise _count_error(func, gxs, inputs)
            accumulated = add(func, inputs, gxs, queue)
            if hook is not None:
                hook(func, gys, gxs, accumulated)
            if release:  # here, not in a method of the store: one call fewer per step
                for out in outputs:
                    out.grad = None


class _Schedule:
    """The functions still to run, deepest generation first: DeZero's sorted list, as a heap.

    Along a chain exactly one function is found after each step and none is waiting; it is then
    ``next``, run without going through the heap, which is most of a deep graph's steps.
    ``_propagate`` takes ``next``, else the heap's top, inline.
    """

    __slots__ = ("heap", "queued", "next", "tie_break")

    def __init__(self, starts: Iterable[Function]) -> None:
        self.heap: list = []  # (-generation, tie-break, function)
        self.queued: set = set()
        self.next: Optional[Function] = None
        self.tie_break = itertools.count()
        for func in starts:
            self.add(func)

    def add(self, func: Function) -> None:
        """Queue ``func`` unless it already was."""
        if func in self.queued:
            return
        self.queued.add(func)
        if self.next is None and not self.heap:
            self.next = func
            return
        if self.next is not None:
            heapq.heappush(self.heap, (-self.next.generation, next(self.tie_break), self.next))
            self.next = None
        heapq.heappush(self.heap, (-func.generation, next(self.tie_break), func))


class _OnVariables:
    """Where ``backward`` keeps gradients: each Variable's ``.grad``."""

    __slots__ = ("create_graph", "release")

    def __init__(self, create_graph: bool, retain_grad: bool) -> None:
        self.create_graph = create_graph
        self.release = not retain_grad

    def read(self, func: Function) -> tuple:
        """``func``'s output Variables and their gradients; an output that got none contributes zeros."""
        refs = func._outputs
        if type(refs) is not tuple:  # one output, held bare (see Function.__slots__)
            out = refs()
            if out is not None and out.grad is not None:
                return (out,), (out.grad,)
            refs = (refs,)
        return _outputs_with_grads(func, refs, _grad_of, "backward", self.create_graph)

    def add(self, func: Function, inputs: tuple, gxs: tuple, queue: Callable[[Function], None]) -> tuple:
        """Add each gradient to its input's ``.grad`` and queue the input's creator; say which ones added to another."""
        create_graph = self.create_graph
        accumulated = []
        for x, gx in zip(inputs, gxs):
            if gx is None:  # the function declares this input non-differentiable
                accumulated.append(False)
                continue
            kind = type(gx)  # an array of the right shape needs no _checked_grad (the common case)
            if create_graph or kind is not _ndarray and kind is not _float64 or gx.shape != x.data.shape:
                gx = _checked_grad(func, x, gx, create_graph)
            if x.grad is None:
                x.grad = gx
                accumulated.append(False)
            else:
                x.grad = x.grad + gx
                accumulated.append(True)
            if x.creator is not None:
                queue(x.creator)
        return tuple(accumulated)


_grad_of = operator.attrgetter("grad")  # how _OnVariables reads a gradient in _outputs_with_grads


class _InDict:
    """Where ``grad`` keeps gradients: a dict, for the ``inputs`` and the variables that lead to them."""

    __slots__ = ("relevant", "wanted", "create_graph", "flagged", "grads")
    release = False  # the dict is dropped at the end

    def __init__(self, relevant: set, inputs: tuple, create_graph: bool, flagged: bool) -> None:
        self.relevant = relevant  # the functions between the inputs and the outputs
        self.wanted = set(inputs)  # a set: `in` on a tuple would compare Variables by value
        self.create_graph = create_graph
        self.flagged = flagged  # whether add says which gradients were added to another (for a hook)
        self.grads: dict = {}  # Variable -> its gradient so far

    def put(self, x: Variable, gx: Any) -> None:
        """Add ``gx`` to the gradient held for ``x``."""
        grads = self.grads
        grads[x] = grads[x] + gx if x in grads else gx

    def read(self, func: Function) -> tuple:
        """``func``'s output Variables and their gradients; an output that got none contributes zeros."""
        refs = func._outputs
        if type(refs) is not tuple:  # one output, held bare (see Function.__slots__)
            out = refs()
            if out in self.grads:
                return (out,), (self.grads[out],)
            refs = (refs,)
        return _outputs_with_grads(func, refs, self.grads.get, "grad", self.create_graph)

    def add(self, func: Function, inputs: tuple, gxs: tuple, queue: Callable[[Function], None]) -> Optional[tuple]:
        """Add each gradient that leads to an input to the dict and queue its creator; say which had one before."""
        grads, relevant, wanted, create_graph = self.grads, self.relevant, self.wanted, self.create_graph
        accumulated = None  # a pass of its own, a tenth of a step: taken for a hook only
        if self.flagged:
            accumulated = tuple([gx is not None and x in grads for x, gx in zip(inputs, gxs)])  # before any is added
        for x, gx in zip(inputs, gxs):
            if gx is None or x.creator not in relevant and x not in wanted:
                continue
            kind = type(gx)
            if create_graph or kind is not _ndarray and kind is not _float64 or gx.shape != x.data.shape:
                gx = _checked_grad(func, x, gx, create_graph)
            grads[x] = grads[x] + gx if x in grads else gx
            if x.creator in relevant:
                queue(x.creator)
        return accumulated


def _outputs_with_grads(func: Function, refs: tuple, held: Callable[[Variable], Any], what: str,
                        create_graph: bool) -> tuple:
    """``func``'s output Variables and the gradient ``held`` gives each, zeros for None."""
    outputs = [ref() for ref in refs]
    gys = []
    for out in outputs:
        if out is None:
            raise RuntimeError(f"an output of {type(func).__name__} was freed before {what}; keep a reference to it")
        gy = held(out)
        gys.append(gy if gy is not None else _zeros_like(out, create_graph))
    return outputs, tuple(gys)


def _blamed(error: BaseException, func: Function) -> BaseException:
    """``error``, carrying the Function whose backward raised it (see ``failed_function``)."""
    if getattr(error, "failed_function", None) is None:  # the innermost function is the culprit
        error.failed_function = func  # type: ignore[attr-defined]
    return error


def _count_error(func: Function, gxs: tuple, inputs: tuple) -> BaseException:
    message = (f"{type(func).__name__}.backward returned {_count(len(gxs), 'gradient')} for "
               f"{_count(len(inputs), 'input')}")
    return _blamed(ValueError(message), func)


def _count(n: int, noun: str) -> str:
    """'1 input', '2 inputs'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def failed_function(error: BaseException) -> Optional[Function]:
    """The Function whose backward raised ``error``, if it was raised during a backward pass."""
    return getattr(error, "failed_function", None)


def _as_tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def functions_between(outputs: tuple, inputs: tuple) -> set:
    """The functions on some path from one of ``inputs`` to one of ``outputs``."""
    reachable, stack = set(), [y.creator for y in outputs if y.creator is not None]
    while stack:
        func = stack.pop()
        if func not in reachable:
            reachable.add(func)
            stack.extend(x.creator for x in func.inputs if x.creator is not None)
    wanted = set(inputs)
    relevant: set = set()
    for func in sorted(reachable, key=lambda f: f.generation):  # a function's creators come first
        if any(x in wanted or x.creator in relevant for x in func.inputs):
            relevant.add(func)
    return relevant


def _zeros_like(x: Variable, create_graph: bool) -> Any:
    zeros = np.zeros_like(x.data)
    return Variable(zeros) if create_graph else zeros


def _checked_grad(func: Optional[Function], x: Variable, gx: Any, create_graph: bool) -> Any:
    """``gx`` as an array (a Variable in graph mode) of ``x``'s shape, or a clear error."""
    if isinstance(gx, Variable):
        array = gx.data
    elif type(gx) is np.ndarray or type(gx) is np.float64:
        array = gx
    else:
        try:
            array = _as_data(gx, f"{_grad_source(func)}'s result")
        except TypeError as error:
            raise error if func is None else _blamed(error, func)
    if array.shape != x.data.shape:
        error = ValueError(f"{_grad_source(func)} gave a gradient of shape {array.shape} for a variable of shape {x.data.shape}")
        raise error if func is None else _blamed(error, func)
    if create_graph:
        return gx if isinstance(gx, Variable) else Variable(array)
    return array


def _grad_source(func: Optional[Function]) -> str:
    return f"{type(func).__name__}.backward" if func is not None else "the starting gradient (y.grad)"


def apply(func: Function, *args: Any) -> Any:
    """Call ``func`` as a graph node if any argument is a Variable, else return its numpy result."""
    for arg in args:
        if isinstance(arg, Variable):
            return func(*args)
    return func.forward(*args)


def elementwise(cls: type) -> Callable[[Any], Any]:
    """The lowercase wrapper of a one-input Function whose forward is a numpy ufunc.

    Like ``apply``: a graph node for a Variable, the ufunc's result for anything else; but no node
    object is made in the second case, which is every call of a first-order backward rule.
    """
    ufunc = cls.forward

    def wrapper(x: Any) -> Any:
        return cls()(x) if isinstance(x, Variable) else ufunc(x)

    wrapper.__name__ = wrapper.__qualname__ = cls.__name__.lower()
    wrapper.__doc__ = cls.__doc__
    return wrapper


# ================================================================ forward mode: jvp, jacobian, hessian


def jvp(f: Callable[..., Any], primals: Any, tangents: Any) -> tuple:
    """(value, tangent) of ``f`` at ``primals`` along ``tangents``, as ``jax.jvp``: f takes and returns
    Variables (or numbers and arrays); the tangent is pushed forward through each Function's ``jvp`` in the
    order the forward pass ran, one pass for one direction. Several outputs give tuples."""
    primals, tangents = _as_tuple(primals), _as_tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {_count(len(tangents), 'tangent')} for {_count(len(primals), 'primal')}")
    xs = tuple(Variable(as_array(p)) for p in primals)
    with using_config("enable_backprop", True):
        outputs = f(*xs)
    ys = tuple(as_variable(y) for y in _as_tuple(outputs))
    known = push_tangents(ys, dict(zip(xs, tangents)))
    values = tuple(y.data for y in ys)
    tans = tuple(known.get(y, np.zeros(y.shape)) for y in ys)
    single = not isinstance(outputs, (tuple, list))
    return (values[0], tans[0]) if single else (values, tans)


def push_tangents(outputs: Any, seeds: dict, functions: Optional[Iterable[Function]] = None,
                  rule: Optional[Callable[..., Any]] = None) -> dict:
    """One forward-mode pass over a recorded graph: ``seeds`` maps Variables to their tangents; the result
    maps every Variable on a path from a seed to ``outputs`` (the seeds included) to its tangent, each
    Function's ``jvp`` run in generation order (an input off those paths has tangent zero). ``functions``
    limits the pass to those (default: every function between the seeds and the outputs); ``rule(func,
    *tangents)`` replaces ``func.jvp(*tangents)``."""
    known: dict = {}  # id -> tangent: Variable's == is elementwise, so ids are the keys
    variables: dict = {}
    for x, t in seeds.items():
        known[id(x)] = np.broadcast_to(as_array(t), x.shape).astype(np.result_type(t, np.float64))
        variables[id(x)] = x
    if functions is None:
        functions = functions_between(_as_tuple(outputs), tuple(seeds))
    for func in sorted(functions, key=lambda func: func.generation):
        ts = [known.get(id(x)) for x in func.inputs]
        if all(t is None for t in ts):
            continue
        ts = [np.zeros(x.shape) if t is None else t for t, x in zip(ts, func.inputs)]
        for ref, t in zip(func.outputs, _as_tuple(func.jvp(*ts) if rule is None else rule(func, *ts))):
            y = ref()
            if y is not None:
                known[id(y)] = np.asarray(t, dtype=np.float64)
                variables[id(y)] = y
    return {variables[key]: tangent for key, tangent in known.items()}


def jacobian(f: Callable[..., Any], inputs: Any, mode: str = "auto", with_mode: bool = False) -> Any:
    """The Jacobian of ``f`` (one output) at ``inputs``: shape output.shape + input.shape for one input,
    a tuple of those for several. ``mode`` 'auto' picks forward (a jvp per input element) when the inputs
    have fewer elements than the output, else reverse (a backward per output element); ``with_mode``
    also returns {'mode': ..., 'passes': n}, saying which ran."""
    inputs_t = tuple(as_array(x) for x in _as_tuple(inputs))
    with using_config("enable_backprop", True):
        out = as_variable(f(*[Variable(x) for x in inputs_t])).data
    n, m = builtins.sum(x.size for x in inputs_t), out.size
    mode = ("forward" if n < m else "reverse") if mode == "auto" else mode
    blocks = _forward_jacobian(f, inputs_t, out) if mode == "forward" else _reverse_jacobian(f, inputs_t, out)
    result = blocks[0] if not isinstance(inputs, (tuple, list)) else tuple(blocks)
    return (result, {"mode": mode, "passes": n if mode == "forward" else m}) if with_mode else result


def _forward_jacobian(f: Callable[..., Any], inputs: tuple, out: np.ndarray) -> list:
    blocks = []
    for k, x in enumerate(inputs):
        columns = []
        for i in range(x.size):
            tangents = [np.zeros_like(v, dtype=np.float64) for v in inputs]
            tangents[k].flat[i] = 1.0
            columns.append(np.asarray(jvp(f, inputs, tangents)[1]).reshape(out.size))
        block = np.stack(columns, axis=1) if columns else np.zeros((out.size, 0))
        blocks.append(block.reshape(out.shape + x.shape))
    return blocks


def _reverse_jacobian(f: Callable[..., Any], inputs: tuple, out: np.ndarray) -> list:
    rows = [[] for _ in inputs]
    for i in range(out.size):
        xs = [Variable(x) for x in inputs]
        with using_config("enable_backprop", True):
            y = as_variable(f(*xs))
        seed = np.zeros(y.shape)
        seed.flat[i] = 1.0
        for k, g in enumerate(grad(y, xs, grad_outputs=seed)):
            rows[k].append(np.asarray(g, dtype=np.float64).reshape(-1))
    return [np.stack(r).reshape(out.shape + x.shape) if r else np.zeros(out.shape + x.shape)
            for r, x in zip(rows, inputs)]


def hessian(f: Callable[..., Any], inputs: Any) -> np.ndarray:
    """The (n, n) matrix of second derivatives of a scalar ``f`` over ``n`` scalar inputs, mixed partials
    included: forward over reverse, a jvp (one pass) of the gradient per input."""
    inputs_t = tuple(float(as_array(x)) for x in _as_tuple(inputs))
    n = len(inputs_t)

    def gradient(*xs: Variable) -> tuple:
        y = as_variable(f(*xs))
        return tuple(as_variable(g) for g in grad(y, xs, create_graph=True))

    columns = []
    for j in range(n):
        direction = [1.0 if i == j else 0.0 for i in range(n)]
        _, tangent = jvp(gradient, inputs_t, direction)
        columns.append([float(t) for t in _as_tuple(tangent)])
    return np.array(columns, dtype=np.float64).T.reshape(n, n)


__all__ = [
    "Config", "using_config", "no_grad", "Variable", "Function", "as_array", "as_variable",
    "backward", "grad", "failed_function", "apply", "elementwise", "jvp", "push_tangents", "functions_between", "jacobian",
    "hessian",
]
