"""An independent oracle for the tests: central differences in plain numpy (not engine.utils)."""
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
