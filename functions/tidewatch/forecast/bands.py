"""Risk bands from the liquidation probability and the distance to liquidation.

| band     | probability within the horizon | or distance to liquidation |
|----------|--------------------------------|----------------------------|
| critical | ≥ 20 %                          | < 3 % price drop           |
| high     | 5 % – 20 %                      | < 10 %                     |
| medium   | 1 % – 5 %                       | < 20 %                     |
| low      | < 1 %                           | ≥ 20 %                     |

The worse of the two criteria wins, so a position one bad candle from liquidation is never
"low" just because the volatility estimate is calm.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from tidewatch.forecast.payloads import RiskBand

BANDS: Final[tuple[RiskBand, ...]] = ("low", "medium", "high", "critical")
PROBABILITY_THRESHOLDS: Final = (0.01, 0.05, 0.20)
DISTANCE_THRESHOLDS: Final = (0.20, 0.10, 0.03)


def band_indices(probability: NDArray[np.float64], distance: NDArray[np.float64]) -> NDArray[np.int64]:
    by_probability = np.searchsorted(np.asarray(PROBABILITY_THRESHOLDS), probability, side="right")
    by_distance = np.sum(distance[:, None] < np.asarray(DISTANCE_THRESHOLDS)[None, :], axis=1)
    return np.maximum(by_probability, by_distance).astype(np.int64)


def band(probability: float, distance: float) -> RiskBand:
    return BANDS[int(band_indices(np.array([probability]), np.array([distance]))[0])]
