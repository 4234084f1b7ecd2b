"""Program + namespace -> recorded run: executes the instrumented cell once, in a scratch scope with
the engine's names, turning the numbers it binds into input Variables and labelling every operation.

The notebook's namespace is only read here."""
from __future__ import annotations

import builtins
import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional

import numpy as np

import engine
from engine import Config, Function, Variable

from . import errors, own
from .errors import CellError, NonNumber
from .parser import BIND_HOOK, CALL_HOOK, DATA_HOOK, NODE_HOOK, TEST_HOOK, Program
from .trace import Label

MAX_INPUT_ELEMENTS = 10 ** 7  # larger inputs are refused: 10^7 float64 are 80 MB, and each op makes more


# ================================================================ the cell's names


def _python_max(*args: Any, **kwargs: Any) -> Any:
    """max as Python means it for two or more operands (elementwise, differentiable); else the reduction."""
    return _extreme(args, kwargs, engine.maximum, engine.max, builtins.max)


def _python_min(*args: Any, **kwargs: Any) -> Any:
    """min as Python means it for two or more operands (elementwise, differentiable); else the reduction."""
    return _extreme(args, kwargs, engine.minimum, engine.min, builtins.min)


def _extreme(args: tuple, kwargs: dict, pairwise: Any, reduction: Any, plain: Any) -> Any:
    if len(args) == 1 and not isinstance(args[0], (Variable, np.ndarray, np.generic)):
        args = tuple(args[0])  # max([a, b, c]): the largest of the items, as in Python
        if len(args) < 2 or "key" in kwargs:
            return plain(args, **kwargs)
    elif len(args) == 1:
        return reduction(args[0], **kwargs)  # max(x), max(x, axis=0): the engine's reduction
    if "key" in kwargs or not any(isinstance(a, Variable) for a in args):
        return plain(*args, **kwargs)
    result = args[0]
    for operand in args[1:]:
        result = pairwise(result, operand)
    return result


def _python_sum(x: Any, *args: Any, **kwargs: Any) -> Any:
    """sum of an iterable as in Python (a + b + ...); the engine's sum of a Variable or an array."""
    if isinstance(x, (Variable, np.ndarray, np.generic)):
        return engine.sum(x, *args, **kwargs)
    return builtins.sum(x, *args, **kwargs)


def _python_pow(x: Any, c: Any, *mod: Any) -> Any:
    """pow(x, c): the engine's for a Variable (either operand), Python's otherwise."""
    if isinstance(c, Variable) or isinstance(x, Variable) and not mod:
        return x ** c
    return builtins.pow(x, c, *mod)


ENGINE_NAMES = {name: getattr(engine, name) for name in engine.__all__ + ["abs"]}
ENGINE_NAMES.update(np=np, max=_python_max, min=_python_min, sum=_python_sum, pow=_python_pow)
_ENGINE_CALLABLES = {id(value) for name, value in ENGINE_NAMES.items() if callable(value) and name != "np"}


# ================================================================ the recording


@dataclass
class Binding:
    """A name bound by the cell (or read from the notebook) to a Variable."""

    name: str
    lineno: Optional[int]
    expression: str
    variable: Variable
    is_input: bool


@dataclass
class Recorder:
    """The hooks the instrumented cell calls: labels operations, turns bound numbers into inputs,
    notes the values the cell tests and the Variables it turns into plain numbers."""

    program: Program
    labels: dict = field(default_factory=dict)  # Variable made by an operation -> Label (its source text)
    bindings: list = field(default_factory=list)
    bound: set = field(default_factory=set)  # the Variables in bindings
    non_numbers: dict = field(default_factory=dict)  # name -> NonNumber, for values that cannot be inputs
    shadowed: dict = field(default_factory=dict)  # engine function name -> what the notebook value hiding it is
    last_bound: Optional[str] = None  # the name the cell bound last, as it ran: the default target
    tested_lines: set = field(default_factory=set)  # lines that compare or test a Variable's value
    converted_lines: set = field(default_factory=set)  # lines that turn a Variable into a plain number
    data_lines: set = field(default_factory=set)  # lines that give a Variable to `v.data`: its value is used
    scope: dict = field(default_factory=dict)  # the cell's names as it runs
    first_outputs: dict = field(default_factory=dict)  # id of a Function -> (its first output seen, lineno)
    own_labels: dict = field(default_factory=dict)  # id of a learner's Variable an operation made -> (it, Label)
    own_seen: bool = False  # the cell met a learner's Variable (own.py): engine functions then check their arguments
    backward_calls: list = field(default_factory=list)  # the Variables whose backward() the cell called, in order

    def node(self, value: Any, index: int) -> Any:
        """NODE_HOOK: label a new Variable with the source text of the operation that made it."""
        if isinstance(value, Variable):
            if value.creator is not None and value not in self.labels:
                expression = self.program.expressions[index]
                self._check_single_use(value, expression.lineno, expression.text)
                self.labels[value] = Label(expression.text, expression.lineno)
        elif own.is_variable(value):
            self.own_seen = True
            if value.creator is not None and id(value) not in self.own_labels:
                expression = self.program.expressions[index]
                self._check_single_use(value, expression.lineno, expression.text)
                self.own_labels[id(value)] = (value, Label(expression.text, expression.lineno))
        return value

    def _check_single_use(self, value: Any, lineno: int, text: str) -> None:
        """Refuse a Function instance's second call (this engine's, or a learner's own class): it overwrote
        the first's inputs and outputs."""
        function = value.creator
        theirs = not isinstance(function, Function)
        if theirs and not hasattr(type(function), "backward"):  # a creator set by hand to some other object
            return
        first, first_line = self.first_outputs.setdefault(id(function), (value, lineno))
        outputs = own.outputs_of(function, None) if theirs else [ref() for ref in function.outputs]
        if first is value or any(y is first for y in outputs):  # one call (several outputs)
            return
        names = [name for name, held in self.scope.items() if held is function]
        name = next((n for n in names if text.startswith(f"{n}(")), names[0] if names else None)
        wrapper = type(function).__name__.lower()
        raise errors.reused_function(self.program.lines, name, function, first_line, lineno, text,
                                     wrapper if wrapper in ENGINE_NAMES and not theirs else None, theirs)

    def mark_repeated_labels(self) -> None:
        """Tell apart the Variables that one piece of source text made several times (the two
        a**2 of a diamond, sin(y) in each pass of a loop): 'a**2 [1]', 'a**2 [2]', in the order made."""
        by_text: dict = {}
        for variable, label in self.labels.items():
            by_text.setdefault((label.name, label.lineno), []).append(variable)
        for (text, lineno), variables in by_text.items():
            if len(variables) > 1:
                for k, variable in enumerate(variables, 1):
                    self.labels[variable] = Label(f"{text} [{k}]", lineno)

    def bind_name(self, value: Any, index: int) -> Any:
        """BIND_HOOK: a name was bound; a number or numeric array becomes an input Variable."""
        assignment = self.program.assignments[index]
        name, lineno = assignment.name, assignment.lineno
        self.last_bound = name
        kind = errors.non_number(value)
        if kind is not None:
            self.non_numbers[name] = NonNumber(kind, f"assigned on line {lineno}", lineno)
        if is_input_number(value, name, self.program):
            value = self.new_leaf(value, name, lineno)
        is_input = (isinstance(value, Variable) and value.creator is None and value not in self.labels
                    and value not in self.bound)  # `y = x` is an alias, not a new input
        if isinstance(value, Variable):  # inputs, and Variables the user made: Variable(np.array(0.5))
            self.bind(Binding(name, lineno, assignment.text, value, is_input))
        elif own.is_variable(value):  # the learner's own Variable (own.py mirrors it after the cell)
            self.bind_own(Binding(name, lineno, assignment.text, value, False))
        return value

    def bind_own(self, binding: Binding) -> None:
        """Record a name bound to a learner's Variable: an input if no function made it and no name
        held it before (`y = x` is an alias)."""
        self.own_seen = True
        value = binding.variable
        held = any(b.variable is value for b in self.bindings)
        binding.is_input = getattr(value, "creator", None) is None and not held and id(value) not in self.own_labels
        self.bindings.append(binding)

    def test(self, value: Any, lineno: int) -> Any:
        """TEST_HOOK: the cell compares or tests ``value``; a Variable's makes the run take a branch."""
        if isinstance(value, Variable):
            self.tested_lines.add(lineno)
        return value

    def data(self, value: Any, lineno: int) -> Any:
        """DATA_HOOK: the value given to ``v.data``; a Variable gives its array (the learning rate is an
        input, so ``lr * x0.grad`` is a Variable: the plain engine's update uses its value)."""
        if isinstance(value, Variable):
            self.data_lines.add(lineno)
            return value.data
        return value

    def call(self, function: Any, lineno: int) -> Any:
        """CALL_HOOK: ``function`` itself, or a guard where it would turn a Variable into a plain number."""
        if function is float or function is int:
            return self._converting(function, lineno)
        owner = getattr(function, "__self__", None)
        if getattr(function, "__name__", None) == "backward" and (isinstance(owner, Variable) or own.is_variable(owner)):
            self.backward_calls.append(owner)  # its gradients are compared with one clean pass (surprises.py)
        if self.own_seen and id(function) in _ENGINE_CALLABLES:
            return self._not_mixing(function, lineno)
        if type(function).__name__ in ("ExitAutocall", "Quitter"):  # IPython's exit() would end the kernel
            return _exit
        if getattr(function, "__module__", None) == "math" or (
                isinstance(function, type) and issubclass(function, np.generic)):
            return self._refusing(function, lineno)
        return function

    def _converting(self, function: Any, lineno: int) -> Any:
        def converted(*args: Any) -> Any:
            if any(isinstance(a, Variable) for a in args):
                self.converted_lines.add(lineno)
            return function(*args)
        return converted

    def _not_mixing(self, function: Any, lineno: int) -> Any:
        def checked(*args: Any, **kwargs: Any) -> Any:
            theirs = next((a for a in args if own.is_variable(a)), None)
            if theirs is not None:
                name = getattr(function, "__name__", type(function).__name__)
                raise CellError(f"{name} is this engine's, and it was given your own {type(theirs).__name__} "
                                f"(a class from this notebook): the two engines do not mix in one graph",
                                lineno, self.program.line(lineno),
                                f"call your own class here (e.g. {name.capitalize()}()(x)), or run the whole cell "
                                "on this engine with %%grad --engine ours", category="type")
            return function(*args, **kwargs)
        return checked

    def _refusing(self, function: Any, lineno: int) -> Any:
        def refused(*args: Any, **kwargs: Any) -> Any:
            if any(isinstance(a, Variable) for a in args):
                raise errors.plain_number_function(self.program.lines, function, lineno)
            return function(*args, **kwargs)
        return refused

    def bind(self, binding: Binding) -> None:
        """Record that the cell bound a name to a Variable."""
        self.bindings.append(binding)
        self.bound.add(binding.variable)
        if binding.variable.name is None:
            binding.variable.name = binding.name

    def new_leaf(self, value: Any, name: str, lineno: Optional[int] = None) -> Variable:
        """An input Variable holding a float64 copy of ``value``."""
        if np.size(value) > MAX_INPUT_ELEMENTS:  # checked before anything is copied
            raise CellError(f"'{name}' has {np.size(value):,} elements; %%grad takes inputs of at most "
                            f"{MAX_INPUT_ELEMENTS:,}", lineno, self.program.line(lineno),
                            "use a smaller array: the table and trace are for seeing the chain rule work",
                            category="size")
        return Variable(np.array(value, dtype=np.float64), name=name)


def _exit(*args: Any) -> None:
    raise SystemExit(*args)


def is_input_number(value: Any, name: str, program: Program) -> bool:
    """A float or a numeric array, or an integer the cell does not use as a count, index or shape;
    never a number the cell uses as a bound of clip."""
    if isinstance(value, (bool, np.bool_)) or name in program.bound_names:
        return False
    if isinstance(value, (float, np.floating)):
        return True
    if isinstance(value, (int, np.integer)):
        return name not in program.count_names
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return True
    return isinstance(value, np.ndarray) and value.dtype.kind in "iu" and name not in program.count_names


# ================================================================ running the cell


def execute(program: Program, namespace: Mapping[str, Any], ours: bool = False) -> tuple:
    """Execute the instrumented cell once in a scratch scope; return the recorder and the scope.
    ``ours``: this engine's names hide the notebook's (its own Variable, Square...)."""
    scope = dict(ENGINE_NAMES)
    scope.update(namespace)
    if ours:
        scope.update(ENGINE_NAMES)
    recorder = Recorder(program, scope=scope)
    for use in program.free_names:
        if use.name in namespace and not (ours and use.name in ENGINE_NAMES):
            _read_from_notebook(recorder, scope, use, namespace[use.name])
    scope.update({NODE_HOOK: recorder.node, BIND_HOOK: recorder.bind_name, TEST_HOOK: recorder.test,
                  CALL_HOOK: recorder.call, DATA_HOOK: recorder.data})
    try:
        with np.errstate(all="ignore"):  # nan and inf are flagged in the notes instead
            exec(program.code, scope)
    except CellError:
        raise  # from our own hooks, already located
    except BaseException as error:  # every failure of the user's code, SystemExit included, becomes a CellError
        raise errors.from_exception(program.lines, error, recorder.non_numbers, recorder.shadowed) from error
    recorder.mark_repeated_labels()
    return recorder, scope


def _read_from_notebook(recorder: Recorder, scope: dict, use: Any, value: Any) -> None:
    """Numbers and Variables the cell reads from the notebook become fresh inputs; note the rest."""
    if own.is_variable(value):  # a learner's Variable from an earlier cell
        recorder.bind_own(Binding(use.name, None, "notebook", value, False))
        return
    if use.called:  # a function, or a value hiding an engine function: never an input
        if use.name in ENGINE_NAMES and not callable(value):
            recorder.shadowed[use.name] = errors.non_number(value) or f"a {type(value).__name__}"
        return
    kind = errors.non_number(value)
    if kind is not None:
        recorder.non_numbers[use.name] = NonNumber(kind, "from the notebook", use.lineno)
    elif is_input_number(value, use.name, recorder.program) or isinstance(value, Variable):
        data = value.data if isinstance(value, Variable) else value
        leaf = recorder.new_leaf(data, use.name, use.lineno)
        if isinstance(value, Variable) and value.grad is not None:  # readable (x - lr * x.grad), not added to
            leaf.grad = np.array(value.grad.data if isinstance(value.grad, Variable) else value.grad)
        scope[use.name] = leaf
        recorder.bind(Binding(use.name, None, "notebook", leaf, True))


@contextlib.contextmanager
def clean_config() -> Iterator[None]:
    """Run with the engine's default configuration; put the notebook's back afterwards."""
    saved = {name: value for name, value in vars(Config).items() if not name.startswith("_")}
    Config.enable_backprop = True
    try:
        yield
    finally:
        for name in [n for n in vars(Config) if not n.startswith("_") and n not in saved]:
            delattr(Config, name)
        for name, value in saved.items():
            setattr(Config, name, value)
