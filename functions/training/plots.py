"""Reliability diagrams of the walk-forward risk forecasts as PNG files (training/docs only).

matplotlib is a development dependency (docs/decisions.md); it is imported here only, and only
by `tidewatch evaluate --plots DIR`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tidewatch.forecast import metrics


def reliability_pngs(forecasts: dict[str, Any], folder: str | Path, edges: tuple[float, ...]) -> list[Path]:
    """One PNG per horizon: mean forecast against observed frequency per bin, model and closed
    form, with the ±5 pt band and bin counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    written = []
    label, horizon = np.asarray(forecasts["label"]), np.asarray(forecasts["horizon"])
    for h in sorted(set(horizon.tolist())):
        m = horizon == h
        fig, ax = plt.subplots(figsize=(5.2, 5.0), dpi=110)
        grid = np.linspace(0, 1, 11)
        ax.fill_between(grid, grid - 0.05, grid + 0.05, color="0.9", label="±5 pt")
        ax.plot([0, 1], [0, 1], color="0.5", lw=0.8)
        for name, style in (("model", "o-"), ("closed_form", "s--")):
            rows = [r for r in metrics.reliability_table(forecasts[name][m], label[m], edges) if r["count"]]
            x = [float(r["mean_forecast"]) for r in rows]  # type: ignore[arg-type]
            y = [float(r["observed"]) for r in rows]  # type: ignore[arg-type]
            ax.plot(x, y, style, ms=4, label=name.replace("_", " "))
            if name == "model":
                for r, xi, yi in zip(rows, x, y, strict=True):
                    ax.annotate(str(r["count"]), (xi, yi), fontsize=6, xytext=(3, -8), textcoords="offset points")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("forecast probability (bin mean)")
        ax.set_ylabel("observed liquidation frequency")
        ax.set_title(f"Liquidation risk within {int(h)} h, walk-forward folds")
        ax.legend(loc="upper left", fontsize=8)
        path = root / f"risk-reliability-{int(h)}h.png"
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
