"""An independent oracle for the tests: plain numpy versions of the engine's functions, and
central differences (not engine.utils)."""
import numpy as np


def central_differences(f, *arrays, eps=1e-6):
    """Gradient of the scalar f(*arrays) with respect to every element of every array."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            high = float(f(*arrays))
            a[idx] = old - eps
            low = float(f(*arrays))
            a[idx] = old
            g[idx] = (high - low) / (2 * eps)
        grads.append(g)
    return grads


class NP:
    """The numpy interpretation (engine function names, plain numpy implementations)."""

    sin, cos, tan, tanh, exp, log, sqrt, square = np.sin, np.cos, np.tan, np.tanh, np.exp, np.log, np.sqrt, np.square
    matmul, reshape, broadcast_to, transpose = np.matmul, np.reshape, np.broadcast_to, np.transpose
    abs = staticmethod(np.abs)

    @staticmethod
    def relu(x):
        return np.maximum(x, 0.0)

    @staticmethod
    def sum_to(x, shape):
        assert np.shape(x) == (2, 3) and tuple(shape) == (1, 3)  # the one use, in test_properties
        return np.sum(x, axis=0, keepdims=True)

    @staticmethod
    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    @staticmethod
    def softmax(x, axis=-1):
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)

    @staticmethod
    def log_softmax(x, axis=-1):
        m = np.max(x, axis=axis, keepdims=True)
        return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return np.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        return np.mean(x, axis=axis, keepdims=keepdims)
