"""The NumPy array types the city is drawn in, and the normaliser of relative weights."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B8 = npt.NDArray[np.bool_]


def normalised(weights: npt.ArrayLike) -> F64:
    """The weights scaled to sum to one."""
    w = np.asarray(weights, dtype=np.float64)
    return np.asarray(w / w.sum(), dtype=np.float64)
