"""Elementary functions: each a Function class plus a lowercase wrapper.

Vocabulary (DeZero's): ``x`` input, ``y`` output, ``gy`` output gradient, ``gx`` input gradient.
Backward rules use only engine functions and operators, so they run on arrays (first order) and
on Variables (higher order) alike; see the module docstring of ``engine.core``.

The wrappers ``sum``, ``max``, ``min``, ``abs`` and ``pow`` shadow Python builtins inside this module
on purpose; module code below never needs the builtins.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .core import Function, Variable, apply, elementwise
from .exceptions import ShapeError

Axis = Optional[Any]


def is_engine_function(func: Function) -> bool:
    """True for the engine's own Functions (defined in this module), False for a user's."""
    return type(func).__module__ == __name__


def _shape(x: Any) -> tuple:
    """The shape of a Variable, an array or a number (numpy's functions refuse Variables)."""
    return np.shape(x.data if isinstance(x, Variable) else x)


# ================================================================ arithmetic: + − × ÷ and unary −


class Add(Function):
    """x0 + x1 with broadcasting."""

    linear = True  # its forward-mode rule is its forward applied to the tangents

    __slots__ = ()
    rule = "∂(a + b)/∂a = 1, ∂(a + b)/∂b = 1"
    local = (("1", lambda a, b, y: 1.0), ("1", lambda a, b, y: 1.0))

    def forward(self, x0, x1):
        return x0 + x1

    def backward(self, gy):
        x0, x1 = self.inputs
        return sum_to(gy, x0.shape), sum_to(gy, x1.shape)


def add(x0: Any, x1: Any) -> Any:
    """x0 + x1."""
    return apply(Add(), x0, x1)


class Sub(Function):
    """x0 - x1 with broadcasting."""

    linear = True  # its forward-mode rule is its forward applied to the tangents

    __slots__ = ()
    rule = "∂(a − b)/∂a = 1, ∂(a − b)/∂b = −1"
    local = (("1", lambda a, b, y: 1.0), ("-1", lambda a, b, y: -1.0))

    def forward(self, x0, x1):
        return x0 - x1

    def backward(self, gy):
        x0, x1 = self.inputs
        return sum_to(gy, x0.shape), sum_to(-gy, x1.shape)


def sub(x0: Any, x1: Any) -> Any:
    """x0 - x1."""
    return apply(Sub(), x0, x1)


class Mul(Function):
    """x0 * x1 with broadcasting."""

    __slots__ = ()
    rule = "∂(a·b)/∂a = b, ∂(a·b)/∂b = a"
    local = (("{b}", lambda a, b, y: b), ("{a}", lambda a, b, y: a))

    def forward(self, x0, x1):
        return x0 * x1

    def backward(self, gy):
        x0, x1 = self.inputs_like(gy)
        return sum_to(gy * x1, self.inputs[0].shape), sum_to(gy * x0, self.inputs[1].shape)

    def jvp(self, ta, tb):
        a, b = self._primals()
        return ta * b + a * tb


def mul(x0: Any, x1: Any) -> Any:
    """x0 * x1."""
    return apply(Mul(), x0, x1)


class Div(Function):
    """x0 / x1 with broadcasting."""

    __slots__ = ()
    rule = "∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = −a/b²"
    local = (("1/{b}", lambda a, b, y: 1 / b), ("-{a}/{b}²", lambda a, b, y: -a / (b * b)))

    def forward(self, x0, x1):
        return x0 / x1

    def backward(self, gy):
        x0, x1 = self.inputs_like(gy)
        gx0 = gy / x1
        gx1 = -gx0 * x0 / x1
        return sum_to(gx0, self.inputs[0].shape), sum_to(gx1, self.inputs[1].shape)

    def jvp(self, ta, tb):
        a, b = self._primals()
        return ta / b - a * tb / (b * b)


def div(x0: Any, x1: Any) -> Any:
    """x0 / x1."""
    return apply(Div(), x0, x1)


class Neg(Function):
    """-x."""

    linear = True  # its forward-mode rule is its forward applied to the tangents

    __slots__ = ()
    rule = "d/dx (−x) = −1"
    local = (("-1", lambda x, y: -1.0),)

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


def neg(x: Any) -> Any:
    """-x."""
    return apply(Neg(), x)


# ================================================================ square, exp, log, pow


class Square(Function):
    """x²."""

    __slots__ = ()
    rule = "d/dx x² = 2x"
    local = (("2·{x}", lambda x, y: 2 * x),)

    def forward(self, x):
        return x ** 2

    def backward(self, gy):
        x, = self.inputs_like(gy)
        return 2 * x * gy

    def jvp(self, t):
        x, = self._primals()
        return 2 * x * t


def square(x: Any) -> Any:
    """x²."""
    return apply(Square(), x)


class Exp(Function):
    """eˣ."""

    __slots__ = ()
    rule = "d/dx eˣ = eˣ"
    local = (("e^{x}", lambda x, y: y),)

    forward = staticmethod(np.exp)

    def backward(self, gy):
        y, = self.outputs_like(gy)
        return gy * y

    def jvp(self, t):
        return self._output() * t


exp = elementwise(Exp)


class Log(Function):
    """Natural logarithm."""

    __slots__ = ()
    rule = "d/dx ln x = 1/x"
    local = (("1/{x}", lambda x, y: 1 / x),)

    forward = staticmethod(np.log)

    def backward(self, gy):
        x, = self.inputs_like(gy)
        return gy / x

    def jvp(self, t):
        x, = self._primals()
        return t / x


log = elementwise(Log)


class Pow(Function):
    """xᶜ for a constant exponent c."""

    __slots__ = ("c",)

    def __init__(self, c: Any) -> None:
        if isinstance(c, Variable):
            raise TypeError("Pow takes a constant exponent; use x ** y (Power) for a variable one")
        self.c = c

    @property
    def local(self) -> tuple:  # type: ignore[override]
        """The template as written by hand: 2·{x} for c = 2, 3·{x}² for c = 3, {c}·{x}^{c_minus_1} else."""
        c = self.c
        if np.ndim(c) or float(c) != int(c) or not 0 <= c <= 9:
            template = "{c}·{x}^{c_minus_1}"
        else:
            template = {0: "0", 1: "1", 2: "2·{x}"}.get(int(c), f"{int(c)}·{{x}}{_SUPERSCRIPTS[int(c) - 1]}")
        return ((template, lambda x, y, c, c_minus_1: c * x ** c_minus_1),)

    def rule_text(self) -> str:
        c = self.c
        if np.ndim(c) or float(c) != int(c) or not 0 <= c <= 9:
            return f"d/dx x^{c} = {c}·x^{_minus_one(c)}"
        c = int(c)
        power = {0: "d/dx x⁰ = 0", 1: "d/dx x = 1", 2: "d/dx x² = 2x"}
        return power.get(c, f"d/dx x{_SUPERSCRIPTS[c]} = {c}x{_SUPERSCRIPTS[c - 1]}".replace("x¹", "x"))

    def local_fields(self) -> dict:
        return {"c": self.c, "c_minus_1": self.c - 1} if np.ndim(self.c) == 0 else {}

    def forward(self, x):
        return x ** self.c

    def backward(self, gy):
        x, = self.inputs_like(gy)
        c = self.c
        # where c = 0 the rule is 0·x⁻¹, which is nan at x = 0; 0·x¹ is the same 0 everywhere else
        exponent = np.where(np.equal(c, 0), 1, np.subtract(c, 1)) if np.ndim(c) else (1 if c == 0 else c - 1)
        return sum_to(c * x ** exponent * gy, self.inputs[0].shape)

    def jvp(self, t):
        x, = self._primals()
        c = self.c
        exponent = np.where(np.equal(c, 0), 1, np.subtract(c, 1)) if np.ndim(c) else (1 if c == 0 else c - 1)
        return c * x ** exponent * t


_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"


def _minus_one(c: Any) -> str:
    return str(c - 1) if np.ndim(c) == 0 else "(c−1)"


def pow(x: Any, c: Any) -> Any:
    """xᶜ for a constant exponent c."""
    return apply(Pow(c), x)


class Power(Function):
    """a ** b where both may be variables."""

    __slots__ = ()
    rule = "∂(aᵇ)/∂a = b·aᵇ⁻¹, ∂(aᵇ)/∂b = aᵇ·ln a"

    def forward(self, a, b):
        return a ** b

    def backward(self, gy):
        a, b = self.inputs_like(gy)
        y, = self.outputs_like(gy)
        a_data, b_data = self.inputs[0].data, self.inputs[1].data
        # 0·0⁻¹ and 0·ln 0 are nan; their limits are 0. Where b = 0, b·a¹ is that same 0; where
        # a = 0, y·ln 1 is. The shifts are constants, so higher derivatives stay right.
        ga = gy * b * a ** (b - 1 + 2.0 * (b_data == 0))
        gb = gy * y * log(a + 1.0 * (a_data == 0))
        return sum_to(ga, self.inputs[0].shape), sum_to(gb, self.inputs[1].shape)

    def jvp(self, ta, tb):
        a, b = self._primals()
        y = self._output()
        with np.errstate(divide="ignore", invalid="ignore"):
            ga = b * a ** (b - 1 + 2.0 * (b == 0))
            gb = y * np.log(a + 1.0 * (a == 0))
        return ga * ta + gb * tb


class Sqrt(Function):
    """√x."""

    __slots__ = ()
    rule = "d/dx √x = 1/(2√x)"
    local = (("1/(2·{y})", lambda x, y: 0.5 / y),)

    forward = staticmethod(np.sqrt)

    def backward(self, gy):
        y, = self.outputs_like(gy)
        return gy / (2 * y)

    def jvp(self, t):
        return t / (2 * self._output())


sqrt = elementwise(Sqrt)


# ================================================================ trigonometric and hyperbolic


class Sin(Function):
    """sin x."""

    __slots__ = ()
    rule = "d/dx sin x = cos x"
    local = (("cos({x})", lambda x, y: np.cos(x)),)

    forward = staticmethod(np.sin)

    def backward(self, gy):
        x, = self.inputs_like(gy)
        return gy * cos(x)

    def jvp(self, t):
        x, = self._primals()
        return np.cos(x) * t


sin = elementwise(Sin)


class Cos(Function):
    """cos x."""

    __slots__ = ()
    rule = "d/dx cos x = −sin x"
    local = (("-sin({x})", lambda x, y: -np.sin(x)),)

    forward = staticmethod(np.cos)

    def backward(self, gy):
        x, = self.inputs_like(gy)
        return -(gy * sin(x))

    def jvp(self, t):
        x, = self._primals()
        return -np.sin(x) * t


cos = elementwise(Cos)


class Tan(Function):
    """tan x."""

    __slots__ = ()
    rule = "d/dx tan x = 1 + tan² x"
    local = (("1 + {y}²", lambda x, y: 1 + y * y),)

    forward = staticmethod(np.tan)

    def backward(self, gy):
        y, = self.outputs_like(gy)
        return gy * (1 + y * y)

    def jvp(self, t):
        y = self._output()
        return (1 + y * y) * t


tan = elementwise(Tan)


class Tanh(Function):
    """tanh x."""

    __slots__ = ()
    rule = "d/dx tanh x = 1 − tanh² x"
    local = (("1 - {y}²", lambda x, y: 1 - y * y),)

    forward = staticmethod(np.tanh)

    def backward(self, gy):
        y, = self.outputs_like(gy)
        return gy * (1 - y * y)

    def jvp(self, t):
        y = self._output()
        return (1 - y * y) * t


tanh = elementwise(Tanh)


# ================================================================ piecewise and activation


class Abs(Function):
    """|x| (gradient 0 at 0)."""

    __slots__ = ()
    rule = "d/dx |x| = sign(x)"

    forward = staticmethod(np.abs)

    def backward(self, gy):
        return gy * np.sign(self.inputs[0].data)

    def jvp(self, t):
        x, = self._primals()
        return np.sign(x) * t


abs = elementwise(Abs)


class Sigmoid(Function):
    """1 / (1 + e⁻ˣ)."""

    __slots__ = ()
    rule = "d/dx σ(x) = σ(x)(1 − σ(x))"
    local = (("{y}·(1 - {y})", lambda x, y: y * (1 - y)),)

    def forward(self, x):
        # e^(−|x|) never overflows; for x < 0, σ(x) = eˣ/(1 + eˣ) keeps full relative precision
        with np.errstate(under="ignore"):  # σ(−1000) is 0 to float64 precision, as it should be
            z = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + z), z / (1 + z))[()]

    def backward(self, gy):
        x, = self.inputs_like(gy)
        y, = self.outputs_like(gy)
        return gy * y * sigmoid(-x)  # 1 − σ(x) = σ(−x), without the cancellation near σ = 1

    def jvp(self, t):
        y = self._output()
        return y * (1 - y) * t


def sigmoid(x: Any) -> Any:
    """Logistic sigmoid."""
    return apply(Sigmoid(), x)


class ReLU(Function):
    """max(x, 0) (gradient 0 at 0)."""

    __slots__ = ()
    rule = "d/dx relu(x) = 1 if x > 0 else 0"

    def forward(self, x):
        return np.maximum(x, 0.0)

    def backward(self, gy):
        return gy * (self.inputs[0].data > 0)

    def jvp(self, t):
        x, = self._primals()
        return (x > 0) * t


def relu(x: Any) -> Any:
    """Rectified linear unit."""
    return apply(ReLU(), x)


class Clip(Function):
    """x limited to [x_min, x_max]."""

    __slots__ = ("x_min", "x_max")

    def __init__(self, x_min: float, x_max: float) -> None:
        bound = next((b for b in (x_min, x_max) if isinstance(b, Variable)), None)
        if bound is not None:
            raise TypeError(f"clip's bounds are constants, not Variables: no gradient flows to a bound; pass a "
                            f"number, e.g. {bound.name or 'bound'}.data")
        if x_min > x_max:
            raise ValueError(f"clip: x_min {x_min} is greater than x_max {x_max}")
        self.x_min, self.x_max = x_min, x_max

    def rule_text(self) -> str:
        return f"d/dx clip(x) = 1 if {self.x_min} ≤ x ≤ {self.x_max} else 0"

    def forward(self, x):
        return np.clip(x, self.x_min, self.x_max)

    def backward(self, gy):
        x = self.inputs[0].data
        return gy * ((x >= self.x_min) & (x <= self.x_max))

    def jvp(self, t):
        x, = self._primals()
        return t * ((x >= self.x_min) & (x <= self.x_max))


def clip(x: Any, x_min: float, x_max: float) -> Any:
    """x limited to [x_min, x_max]."""
    return apply(Clip(x_min, x_max), x)


class _Elementwise2(Function):
    """Shared maximum/minimum of two operands: the gradient goes to the winner, split evenly at a tie."""

    __slots__ = ()
    pick = staticmethod(np.maximum)

    def forward(self, a, b):
        return self.pick(a, b)

    def backward(self, gy):
        a, b = self.inputs[0].data, self.inputs[1].data  # constant masks
        winner = self.pick(a, b)
        share_a = (a == winner) * np.where(a == b, 0.5, 1.0)
        share_b = (b == winner) * np.where(a == b, 0.5, 1.0)
        return sum_to(gy * share_a, self.inputs[0].shape), sum_to(gy * share_b, self.inputs[1].shape)

    def jvp(self, ta, tb):
        a, b = self._primals()
        winner = self.pick(a, b)
        share_a = (a == winner) * np.where(a == b, 0.5, 1.0)
        share_b = (b == winner) * np.where(a == b, 0.5, 1.0)
        return share_a * ta + share_b * tb


class Maximum(_Elementwise2):
    """Elementwise maximum of two operands (Python's max(a, b))."""

    __slots__ = ()
    rule = "∂max(a, b)/∂a = 1 if a > b else 0 (½ each at a tie)"
    pick = staticmethod(np.maximum)


class Minimum(_Elementwise2):
    """Elementwise minimum of two operands (Python's min(a, b))."""

    __slots__ = ()
    rule = "∂min(a, b)/∂a = 1 if a < b else 0 (½ each at a tie)"
    pick = staticmethod(np.minimum)


def maximum(a: Any, b: Any) -> Any:
    """Elementwise maximum of a and b."""
    return apply(Maximum(), a, b)


def minimum(a: Any, b: Any) -> Any:
    """Elementwise minimum of a and b."""
    return apply(Minimum(), a, b)


# ================================================================ shape manipulation


def _check_reshape(x_shape: tuple, shape: tuple) -> None:
    try:
        np.empty(x_shape, dtype=np.bool_).reshape(shape)
    except ValueError:
        raise ShapeError(f"reshape: cannot reshape shape {x_shape} into shape {shape}") from None


class Reshape(Function):
    """x with a new shape."""

    linear = True  # its forward-mode rule is its forward applied to the tangents

    __slots__ = ("shape",)
    rule = "reshape passes the gradient back, reshaped to x's shape"

    def __init__(self, shape: tuple) -> None:
        self.shape = shape

    def forward(self, x):
        _check_reshape(np.shape(x), self.shape)
        return np.reshape(x, self.shape)

    def backward(self, gy):
        return reshape(gy, self.inputs[0].shape)


def reshape(x: Any, shape: Any) -> Any:
    """x with a new shape."""
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if _shape(x) == shape:
        return x
    return apply(Reshape(shape), x)


class Transpose(Function):
    """x with permuted axes (reversed by default)."""

    linear = True  # its forward-mode rule is its forward applied to the tangents

    __slots__ = ("axes",)
    rule = "transpose passes the gradient back, transposed by the inverse permutation"

    def __init__(self, axes: Optional[tuple] = None) -> None:
        self.axes = None if axes is None else tuple(axes)

    def forward(self, x):
        if self.axes is not None:  # negative axes are made positive, so backward can invert them
            self.axes = _normalize_axis(self.axes, np.ndim(x))
        return np.transpose(x, self.axes)

    def backward(self, gy):
        if self.axes is None:
            return transpose(gy)
        return transpose(gy, tuple(np.argsort(self.axes)))


def transpose(x: Any, axes: Optional[tuple] = None) -> Any:
    """x with permuted axes (reversed by default)."""
    return apply(Transpose(axes), x)


class BroadcastTo(Function):
    """x broadcast to ``shape``."""

    linear = True  # its forward-mode rule is its forward applied to the tangents

    __slots__ = ("shape",)
    rule = "broadcast_to: the gradient is summed back over the broadcast axes"

    def __init__(self, shape: tuple) -> None:
        self.shape = tuple(shape)

    def forward(self, x):
        try:
            return np.array(np.broadcast_to(x, self.shape))
        except ValueError:
            raise ShapeError(f"broadcast_to: cannot broadcast shape {np.shape(x)} to {self.shape}") from None

    def backward(self, gy):
        return sum_to(gy, self.inputs[0].shape)


def broadcast_to(x: Any, shape: tuple) -> Any:
    """x broadcast to ``shape``."""
    if _shape(x) == tuple(shape):
        return x
    return apply(BroadcastTo(shape), x)


def _sum_to_array(x: np.ndarray, shape: tuple) -> np.ndarray:
    lead = x.ndim - len(shape)
    if lead < 0:
        raise ShapeError(f"sum_to: cannot sum shape {x.shape} to the larger rank shape {shape}")
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and x.shape[i + lead] != 1)
    y = x.sum(axis=axes, keepdims=True) if axes else x
    if lead:
        y = y.reshape(y.shape[lead:])
    if y.shape != tuple(shape):
        raise ShapeError(f"sum_to: cannot sum shape {x.shape} to shape {tuple(shape)}")
    return y


class SumTo(Function):
    """x summed over broadcast axes down to ``shape`` (the inverse of broadcast_to)."""

    linear = True  # its forward-mode rule is its forward applied to the tangents

    __slots__ = ("shape",)
    rule = "sum_to: the gradient is broadcast back to x's shape"

    def __init__(self, shape: tuple) -> None:
        self.shape = tuple(shape)

    def forward(self, x):
        return _sum_to_array(np.asarray(x), self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.inputs[0].shape)


def sum_to(x: Any, shape: tuple) -> Any:
    """x summed over broadcast axes down to ``shape``."""
    if _shape(x) == tuple(shape):
        return x
    return apply(SumTo(shape), x)


# ================================================================ reductions


def _normalize_axis(axis: Axis, ndim: int) -> Optional[tuple]:
    if axis is None:
        return None
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        if not -ndim <= a < ndim and not (ndim == 0 and a in (0, -1)):
            raise ShapeError(f"axis {a} is out of range for an array of {ndim} dimensions")
        out.append(a % ndim if ndim else 0)
    return tuple(out)


def _expand_reduced(gy: Any, x_shape: tuple, axis: Axis, keepdims: bool) -> Any:
    """Reinsert the axes a reduction removed, so that gy broadcasts against x."""
    if keepdims or axis is None and len(_shape(gy)) == 0 or not x_shape:
        return gy
    axes = _normalize_axis(axis, len(x_shape))
    if axes is None:
        axes = tuple(range(len(x_shape)))
    shape = list(_shape(gy))
    for a in sorted(axes):
        shape.insert(a, 1)
    return reshape(gy, tuple(shape))


class Sum(Function):
    """Sum over ``axis`` (all by default)."""

    linear = True  # its forward-mode rule is its forward applied to the tangents

    __slots__ = ("axis", "keepdims")
    rule = "∂(Σx)/∂xᵢ = 1: the gradient is broadcast back to x's shape"

    def __init__(self, axis: Axis = None, keepdims: bool = False) -> None:
        self.axis = tuple(axis) if isinstance(axis, list) else axis
        self.keepdims = keepdims

    def forward(self, x):
        _normalize_axis(self.axis, np.ndim(x))
        return np.sum(x, axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        x_shape = self.inputs[0].shape
        return broadcast_to(_expand_reduced(gy, x_shape, self.axis, self.keepdims), x_shape)


def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Sum over ``axis`` (all by default)."""
    return apply(Sum(axis, keepdims), x)


class Mean(Sum):
    """Mean over ``axis`` (all by default): one step, so that its 1/n is a rule, not an input."""

    linear = True  # its forward-mode rule is its forward applied to the tangents

    __slots__ = ()
    rule = "∂(mean x)/∂xᵢ = 1/n: the gradient is divided by n and broadcast back to x's shape"

    def forward(self, x):
        _normalize_axis(self.axis, np.ndim(x))
        return np.mean(x, axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        x_shape = self.inputs[0].shape
        axes = _normalize_axis(self.axis, len(x_shape))
        count = int(np.prod([x_shape[a] for a in axes]) if axes is not None else np.prod(x_shape))
        return super().backward(gy) * (1.0 / count)


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Mean over ``axis`` (all by default)."""
    return apply(Mean(axis, keepdims), x)


class _Extreme(Function):
    """Shared max/min: the gradient goes to the extreme elements, split evenly among ties."""

    __slots__ = ("axis", "keepdims")
    reduce = staticmethod(np.max)

    def __init__(self, axis: Axis = None, keepdims: bool = False) -> None:
        self.axis = tuple(axis) if isinstance(axis, list) else axis
        self.keepdims = keepdims

    def forward(self, x):
        _normalize_axis(self.axis, np.ndim(x))
        if np.size(x) == 0:
            raise ValueError(f"{type(self).__name__.lower()} of an empty array")
        return self.reduce(x, axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        x = self.inputs[0].data
        extreme = self.reduce(x, axis=self.axis, keepdims=True)
        mask = (x == extreme).astype(x.dtype)
        mask /= mask.sum(axis=self.axis, keepdims=True)
        return broadcast_to(_expand_reduced(gy, x.shape, self.axis, self.keepdims), x.shape) * mask

    def jvp(self, t):
        x, = self._primals()
        extreme = self.reduce(x, axis=self.axis, keepdims=True)
        mask = (x == extreme).astype(np.result_type(x, np.float64))
        mask /= mask.sum(axis=self.axis, keepdims=True)
        return np.sum(t * mask, axis=self.axis, keepdims=self.keepdims)


class Max(_Extreme):
    """Maximum over ``axis``."""

    __slots__ = ()
    rule = "∂(max x)/∂xᵢ = 1 where xᵢ is the maximum (split among ties), else 0"
    reduce = staticmethod(np.max)


class Min(_Extreme):
    """Minimum over ``axis``."""

    __slots__ = ()
    rule = "∂(min x)/∂xᵢ = 1 where xᵢ is the minimum (split among ties), else 0"
    reduce = staticmethod(np.min)


def max(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Maximum over ``axis`` (all by default)."""
    return apply(Max(axis, keepdims), x)


def min(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Minimum over ``axis`` (all by default)."""
    return apply(Min(axis, keepdims), x)


# ================================================================ indexing and linear algebra


class GetItem(Function):
    """x[index]."""

    linear = True  # its forward-mode rule is its forward applied to the tangents

    __slots__ = ("index",)
    rule = "x[i]: the gradient is scattered back into zeros of x's shape"

    def __init__(self, index: Any) -> None:
        self.index = index

    def forward(self, x):
        return np.asarray(x)[self.index]

    def backward(self, gy):
        return apply(GetItemGrad(self.index, self.inputs[0].shape), gy)


class GetItemGrad(Function):
    """Scatter-add gy into zeros of shape ``in_shape`` at ``index`` (the backward of GetItem)."""

    linear = True  # its forward-mode rule is its forward applied to the tangents

    __slots__ = ("index", "in_shape")
    rule = "the gradient of a scatter-add is the gathered gradient"

    def __init__(self, index: Any, in_shape: tuple) -> None:
        self.index, self.in_shape = index, in_shape

    def forward(self, gy):
        gx = np.zeros(self.in_shape, dtype=np.result_type(gy, np.float64))
        np.add.at(gx, self.index, gy)
        return gx

    def backward(self, ggx):
        return getitem(ggx, self.index)


def getitem(x: Any, index: Any) -> Any:
    """x[index]."""
    if isinstance(index, Variable):
        raise TypeError("getitem: index with an array or ints, not a Variable")
    return apply(GetItem(index), x)


def _swap_last(x: Any) -> Any:
    ndim = len(_shape(x))
    if ndim < 2:
        return x
    axes = tuple(range(ndim - 2)) + (ndim - 1, ndim - 2)
    return transpose(x, axes)


class MatMul(Function):
    """a @ b with numpy's matmul semantics (1-D operands and broadcast batch axes)."""

    __slots__ = ()
    rule = "∂(A@B)/∂A = G@Bᵀ, ∂(A@B)/∂B = Aᵀ@G (G: incoming gradient)"

    def forward(self, a, b):
        a, b = np.asarray(a), np.asarray(b)
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}")
        try:
            return a @ b
        except ValueError:
            raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not align") from None

    def backward(self, gy):
        a, b = self.inputs_like(gy)
        a_shape, b_shape = self.inputs[0].shape, self.inputs[1].shape
        # 1-D operands are promoted to matrices, as numpy does, then the 2-D rule applies
        a2_shape = (1,) + a_shape if len(a_shape) == 1 else a_shape
        b2_shape = b_shape + (1,) if len(b_shape) == 1 else b_shape
        g2_shape = np.broadcast_shapes(a2_shape[:-2], b2_shape[:-2]) + (a2_shape[-2], b2_shape[-1])
        g2 = reshape(gy, g2_shape)
        ga = sum_to(matmul(g2, _swap_last(reshape(b, b2_shape))), a2_shape)
        gb = sum_to(matmul(_swap_last(reshape(a, a2_shape)), g2), b2_shape)
        return reshape(ga, a_shape), reshape(gb, b_shape)

    def jvp(self, ta, tb):
        a, b = self._primals()
        return ta @ b + a @ tb


def matmul(a: Any, b: Any) -> Any:
    """a @ b."""
    return apply(MatMul(), a, b)


# ================================================================ softmax family


class Softmax(Function):
    """exp(x) / Σ exp(x) along ``axis``."""

    __slots__ = ("axis",)
    rule = "∂yᵢ/∂xⱼ = yᵢ(δᵢⱼ − yⱼ): gx = y·(gy − Σ gy·y)"

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x):
        _normalize_axis(self.axis, np.ndim(x))
        z = np.exp(x - np.max(x, axis=self.axis, keepdims=True))
        return z / z.sum(axis=self.axis, keepdims=True)

    def backward(self, gy):
        y, = self.outputs_like(gy)
        gx = y * gy
        return gx - y * sum(gx, self.axis, keepdims=True)

    def jvp(self, t):
        y = self._output()
        yt = y * t
        return yt - y * yt.sum(axis=self.axis, keepdims=True)


def softmax(x: Any, axis: int = -1) -> Any:
    """Softmax along ``axis``."""
    return apply(Softmax(axis), x)


class LogSoftmax(Function):
    """x − log Σ exp(x) along ``axis``, computed stably."""

    __slots__ = ("axis",)
    rule = "∂yᵢ/∂xⱼ = δᵢⱼ − softmax(x)ⱼ: gx = gy − softmax(x)·Σ gy"

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x):
        _normalize_axis(self.axis, np.ndim(x))
        shifted = x - np.max(x, axis=self.axis, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        y, = self.outputs_like(gy)
        return gy - exp(y) * sum(gy, self.axis, keepdims=True)

    def jvp(self, t):
        p = np.exp(self._output())  # softmax(x): dyᵢ = tᵢ − Σⱼ softmax(x)ⱼ tⱼ
        return t - (p * t).sum(axis=self.axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """Log of softmax along ``axis``."""
    return apply(LogSoftmax(axis), x)


# ================================================================ the registry
#
# Every public function of this module by name, with what its arguments after the operands are:
# (COUNT, k) says that argument k and every one after it is a shape, an axis or an index (an integer
# that stays an integer), (CONSTANT, k) that they are numbers the function holds as constants (no
# gradient flows to them); None that every argument is an operand. The parameters at those positions
# take the same role by keyword. Tools read this table rather than keep lists of names of their own.

COUNT, CONSTANT = "count", "constant"

FUNCTIONS: dict = {
    **dict.fromkeys("add sub mul div neg square exp log sqrt sin cos tan tanh abs sigmoid relu maximum minimum "
                    "matmul".split()),
    "pow": (CONSTANT, 1), "clip": (CONSTANT, 1),
    "reshape": (COUNT, 1), "transpose": (COUNT, 1), "broadcast_to": (COUNT, 1), "sum_to": (COUNT, 1),
    "sum": (COUNT, 1), "mean": (COUNT, 1), "max": (COUNT, 1), "min": (COUNT, 1), "getitem": (COUNT, 1),
    "softmax": (COUNT, 1), "log_softmax": (COUNT, 1),
}


# ================================================================ Variable's operators and array methods
#
# Variable is defined in core.py, which knows nothing of the functions above; they are attached to
# it here, once, when the engine is imported (DeZero's setup_variable). No import goes back to core.


def _operator(cls: type, reflected: bool = False) -> Any:
    """A binary operator method: ``cls()(self, other)``, or ``cls()(other, self)`` when reflected."""
    if reflected:
        def method(self: Variable, other: Any) -> Variable:
            return cls()(other, self)
    else:
        def method(self: Variable, other: Any) -> Variable:
            return cls()(self, other)
    method.__doc__ = f"{cls.__doc__} (the {'reflected ' if reflected else ''}operator)"
    return method


def _power(self: Variable, other: Any) -> Variable:
    """self ** other: Power for a Variable exponent, Pow for a constant one."""
    return Power()(self, other) if isinstance(other, Variable) else Pow(other)(self)


def _reshape(self: Variable, *shape: Any) -> Any:
    """``reshape(x, shape)``; accepts ``x.reshape(2, 3)`` and ``x.reshape((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return reshape(self, shape)


def _transpose(self: Variable, *axes: Any) -> Any:
    """``transpose(x, axes)``; no axes reverses them."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)) or axes == (None,):
        axes = axes[0]
    return transpose(self, axes or None)


def _sum(self: Variable, axis: Axis = None, keepdims: bool = False) -> Any:
    """``sum(x, axis, keepdims)``."""
    return sum(self, axis, keepdims)


def setup_variable() -> None:
    """Attach the operators and array methods to Variable."""
    for name, cls in [("add", Add), ("sub", Sub), ("mul", Mul), ("truediv", Div), ("matmul", MatMul)]:
        setattr(Variable, f"__{name}__", _operator(cls))
        setattr(Variable, f"__r{name}__", _operator(cls, reflected=True))
    Variable.__neg__ = lambda self: Neg()(self)
    Variable.__pos__ = lambda self: self
    Variable.__abs__ = lambda self: Abs()(self)
    Variable.__pow__ = _power
    Variable.__rpow__ = _operator(Power, reflected=True)
    Variable.__getitem__ = getitem
    Variable.reshape = _reshape
    Variable.transpose = _transpose
    Variable.T = property(transpose, doc="Transpose (all axes reversed).")
    Variable.sum = _sum
    Variable._function_names = frozenset(FUNCTIONS)  # np.sum(v) then names the engine's sum


setup_variable()
