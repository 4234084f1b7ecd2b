"""A numpy reverse-mode autodiff engine in the style of DeZero ("Deep Learning from Scratch 3")."""
from .core import Config
from .core import Function
from .core import Variable
from .core import apply
from .core import as_array
from .core import as_variable
from .core import backward
from .core import failed_function
from .core import functions_between
from .core import grad
from .core import hessian
from .core import jacobian
from .core import jvp
from .core import no_grad
from .core import push_tangents
from .core import using_config
from .exceptions import EngineError
from .exceptions import NonNumericData
from .exceptions import ShapeError
from .exceptions import VariableGivenToNumpy
from .exceptions import VariableInVariable
from .functions import Add
from .functions import Div
from .functions import Mul
from .functions import Neg
from .functions import Sub
from .functions import add
from .functions import div
from .functions import mul
from .functions import neg
from .functions import sub
from .functions import Abs
from .functions import BroadcastTo
from .functions import Clip
from .functions import Cos
from .functions import Exp
from .functions import GetItem
from .functions import Log
from .functions import LogSoftmax
from .functions import MatMul
from .functions import Max
from .functions import Maximum
from .functions import Mean
from .functions import Min
from .functions import Minimum
from .functions import Pow
from .functions import Power
from .functions import ReLU
from .functions import Reshape
from .functions import Sigmoid
from .functions import Sin
from .functions import Softmax
from .functions import Sqrt
from .functions import Square
from .functions import Sum
from .functions import SumTo
from .functions import Tan
from .functions import Tanh
from .functions import Transpose
from .functions import abs
from .functions import broadcast_to
from .functions import clip
from .functions import cos
from .functions import exp
from .functions import getitem
from .functions import is_engine_function
from .functions import log
from .functions import log_softmax
from .functions import matmul
from .functions import max
from .functions import maximum
from .functions import mean
from .functions import min
from .functions import minimum
from .functions import pow
from .functions import relu
from .functions import reshape
from .functions import sigmoid
from .functions import sin
from .functions import softmax
from .functions import sqrt
from .functions import square
from .functions import sum
from .functions import sum_to
from .functions import tan
from .functions import tanh
from .functions import transpose
from .utils import GradientCheckError
from .utils import Replay
from .utils import analytic_grad
from .utils import clear_grads
from .utils import functions_of
from .utils import gradient_check
from .utils import leaves_of
from .utils import numerical_diff
from .utils import numerical_grad

# abs, max, min, pow and sum are importable by name but left out of __all__, so that
# `from engine import *` does not shadow Python's builtins of the same names.
__all__ = [
    "Abs", "Add", "BroadcastTo", "Clip", "Config", "Cos", "Div", "EngineError", "Exp", "Function", "GetItem",
    "GradientCheckError", "Log", "LogSoftmax", "MatMul", "Max", "Maximum", "Mean", "Min", "Minimum", "Mul", "Neg",
    "NonNumericData", "Pow", "Power", "ReLU", "Replay", "Reshape", "ShapeError", "Sigmoid", "Sin", "Softmax",
    "Sqrt", "Square", "Sub", "Sum", "SumTo", "Tan", "Tanh", "Transpose", "Variable", "VariableGivenToNumpy",
    "VariableInVariable", "add", "analytic_grad", "apply", "as_array", "as_variable", "backward", "broadcast_to",
    "clear_grads", "clip", "cos", "div", "exp", "failed_function", "functions_between", "functions_of", "getitem", "grad",
    "gradient_check", "hessian", "is_engine_function", "jacobian", "jvp", "leaves_of", "log", "log_softmax", "matmul", "maximum", "mean",
    "minimum", "mul", "neg", "no_grad", "push_tangents", "numerical_diff", "numerical_grad", "relu", "reshape", "sigmoid", "sin",
    "softmax", "sqrt", "square", "sub", "sum_to", "tan", "tanh", "transpose", "using_config",
]
