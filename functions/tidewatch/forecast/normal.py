"""The standard normal distribution with numpy only (scipy is not shipped to the serving path).

`norm_cdf` uses the complementary error function of Numerical Recipes (`erfcc`, a Chebyshev
fit) whose *fractional* error is below 1.2e-7 everywhere, so tail probabilities (1e-9 and below)
keep their relative accuracy, which matters because the risk model takes their logit.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

_SQRT1_2 = 0.7071067811865476


def erfc(x: ArrayLike) -> NDArray[np.float64]:
    x = np.asarray(x, dtype=np.float64)
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (
        1.00002368
        + t
        * (
            0.37409196
            + t
            * (
                0.09678418
                + t
                * (
                    -0.18628806
                    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))
                )
            )
        )
    )
    ans = t * np.exp(-z * z + poly)
    return np.where(x >= 0.0, ans, 2.0 - ans)


def norm_cdf(x: ArrayLike) -> NDArray[np.float64]:
    """Φ(x) = erfc(-x/√2)/2."""
    return 0.5 * erfc(-np.asarray(x, dtype=np.float64) * _SQRT1_2)
