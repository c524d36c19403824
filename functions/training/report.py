"""The walk-forward report as plain text (the CLI prints it; docs/models.md quotes it)."""

from __future__ import annotations

from typing import Any


def _f(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def _ci(block: dict[str, Any], name: str, digits: int = 3) -> str:
    lo, hi = block.get(f"{name}_ci") or (None, None)
    return f"{_f(block.get(name), digits)} [{_f(lo, digits)}, {_f(hi, digits)}]"


APY_FORECASTERS = ("model", "served", "persistence")


def _apy_row(label: str, scores: dict[str, Any], roll_key: str) -> str:
    cells = [f"{label:<22}{scores['samples']:>7}"]
    for name in (*APY_FORECASTERS, roll_key):
        b = scores[name]
        cells.append(f"{_ci(b, 'mae'):>22} {_ci(b, 'rmse'):>22}")
    return "  ".join(cells)


def format_apy(report: dict[str, Any]) -> list[str]:
    lines = [
        "APY forecast, walk-forward (mean APY over the horizon; errors in percentage points, 95 % block-bootstrap intervals)",
        "served = the model, or persistence / the rolling mean for the markets where it beat the model in these folds",
    ]
    for key, block in report.items():
        roll_key = next(k for k in block["pooled"] if k.startswith("rolling_mean"))
        lines += ["", f"head {key}: {len(block['folds'])} folds"]
        header = f"{'market':<22}{'n':>7}  " + "  ".join(
            f"{name + ' MAE':>22} {'RMSE':>22}" for name in (*APY_FORECASTERS, "rolling mean")
        )
        lines.append(header)
        lines.append(_apy_row("pooled", block["pooled"], roll_key))
        for market, scores in block["per_market"].items():
            lines.append(_apy_row(market, scores, roll_key) + f"  -> {scores['served_method']}")
        d = block["pooled"]["served_minus_persistence_mae"]
        r = block["pooled"]["served_minus_rolling_mean_mae"]
        lines.append(
            f"served − persistence MAE: {_f(d['mean'], 3)} pp [{_f(d['ci'][0], 3)}, {_f(d['ci'][1], 3)}]; "
            f"served − rolling mean MAE: {_f(r['mean'], 3)} pp [{_f(r['ci'][0], 3)}, {_f(r['ci'][1], 3)}]; "
            f"beats persistence pooled: {'yes' if block['beats_persistence'] else 'NO'}"
        )
        cov = block["interval_coverage_ci"]
        lines.append(
            f"{int(block['interval_level'] * 100)} % interval coverage {_f(block['interval_coverage'], 3)} "
            f"[{_f(cov[0], 3)}, {_f(cov[1], 3)}]; per fold: "
            + ", ".join(_f(r["coverage"], 2) for r in block["folds"])
            + f" (all within ±5 pt: {'yes' if block['interval_coverage_folds_within_tolerance'] else 'no'})"
        )
        f = block["fall"]
        lines.append(
            f"fall label: base rate {_f(f['base_rate'], 3)}, Brier {_ci(f, 'brier', 4)}, base-rate Brier "
            f"{_f(f['brier_base_rate'])}, Brier skill {_f(f['brier_skill'], 3)}, AUC {_f(f['auc'], 3)}"
        )
    return lines


def format_risk(risk: dict[str, Any]) -> list[str]:
    folds = risk["folds"]
    lines = [
        "",
        f"Liquidation risk, walk-forward ({len(folds)} folds, {folds[0]['test_start'][:10]} .. {folds[-1]['test_end'][:10]};"
        " synthetic positions on real price paths; Brier with 95 % block-bootstrap intervals)",
    ]
    names = ("model", "closed_form", next(k for k in risk["slices"]["all"] if k.startswith("hf_rule")), "climatology")
    lines.append(
        f"{'slice':<14}{'n':>7} {'base':>6}  " + "  ".join(f"{n + ' Brier':>28} {'AUC':>6}" for n in names) + "  skill"
    )
    for name, b in risk["slices"].items():
        cells = [f"{name:<14}{b['samples']:>7} {_f(b['base_rate'], 3):>6}"]
        for n in names:
            cells.append(f"{_ci(b[n], 'brier', 4):>28} {_f(b[n]['auc'], 3):>6}")
        lines.append("  ".join(cells) + f"  {_f(b['model_brier_skill'], 3)}")
    lines += ["", "Per fold: test window, n, base rate, model Brier, closed-form Brier, highest forecast"]
    for r in folds:
        lines.append(
            f"  {r['fold']}: {r['test_start'][:10]} .. {r['test_end'][:10]} {r['test_samples']:>6} "
            f"{_f(r['base_rate'], 3)} {_f(r['model_brier'])} {_f(r['closed_form_brier'])} {_f(r['max_forecast'], 3)}"
        )
    for horizon, tables in risk["reliability"].items():
        lines += ["", f"Reliability {horizon} (walk-forward): bin, n, mean forecast → observed (model | closed form)"]
        for m, c in zip(tables["model"], tables["closed_form"], strict=True):
            lines.append(
                f"  {m['bin']:<14}{m['count']:>7} {_f(m['mean_forecast']):>8} → {_f(m['observed']):<8}"
                f" | {c['count']:>7} {_f(c['mean_forecast']):>8} → {_f(c['observed'])}"
            )
    lines.append(
        f"reliability within ±5 pt in every bin with ≥ 200 samples: {'yes' if risk['reliability_within_tolerance'] else 'NO'}; "
        f"highest forecast {_f(risk['max_forecast'], 3)}"
    )
    mc = risk.get("multi_asset_monte_carlo") or {}
    if mc:
        lines += [
            "",
            f"Multi-asset positions vs the correlated Monte Carlo reference ({mc['samples']} positions of the last fold, "
            f"base rate {_f(mc['base_rate'], 3)})",
        ]
        for name in ("model", "closed_form_one_factor", "monte_carlo"):
            lines.append(f"  {name:<24} Brier {_f(mc[name]['brier'])}  AUC {_f(mc[name]['auc'], 3)}")
    return lines


def format_report(report: dict[str, Any]) -> str:
    window = report.get("data_window", {})
    lines = [
        f"Data: {report.get('data_source', '?')}",
        f"Data window: {window.get('start')} .. {window.get('end')}",
        "",
    ]
    lines += format_apy(report["apy"])
    lines += format_risk(report["risk"])
    for item in report.get("published", []):
        lines.append(f"published {item['kind']} {item['version']} → {item['uri']} (approved: {item['approved']})")
        lines += [f"  gate: {g}" for g in item.get("gate_failures", [])]
    return "\n".join(lines) + "\n"


def _md_ci(block: dict[str, Any], name: str, digits: int = 3) -> str:
    lo, hi = block.get(f"{name}_ci") or (None, None)
    return f"{_f(block.get(name), digits)} ({_f(lo, digits)}–{_f(hi, digits)})"


def format_markdown(report: dict[str, Any]) -> str:
    """The walk-forward tables as Markdown (docs/models.md quotes this output)."""
    out: list[str] = []
    for key, block in report["apy"].items():
        roll = next(k for k in block["pooled"] if k.startswith("rolling_mean"))
        out += [
            f"#### APY {key} — MAE / RMSE in pp (95 % block-bootstrap interval)",
            "",
            "| market | n | model MAE | model RMSE | served MAE | served RMSE | persistence MAE | persistence RMSE | rolling mean MAE | rolling mean RMSE | served |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        rows = [("**pooled**", block["pooled"], "")] + [
            (m, s, s["served_method"]) for m, s in block["per_market"].items()
        ]
        for name, s, method in rows:
            cells = [name, f"{s['samples']:,}"]
            for f in ("model", "served", "persistence", roll):
                cells += [_md_ci(s[f], "mae"), _md_ci(s[f], "rmse")]
            out.append("| " + " | ".join([*cells, method]) + " |")
        cov = block["interval_coverage_ci"]
        f = block["fall"]
        d = block["pooled"]["served_minus_persistence_mae"]
        r = block["pooled"]["served_minus_rolling_mean_mae"]
        out += [
            "",
            f"Paired MAE differences (pp): served − persistence {_f(d['mean'], 3)} ({_f(d['ci'][0], 3)} … "
            f"{_f(d['ci'][1], 3)}), served − rolling mean {_f(r['mean'], 3)} ({_f(r['ci'][0], 3)} … {_f(r['ci'][1], 3)}). "
            f"Mean interval width per fold (pp): "
            + ", ".join(_f(row["mean_width_pp"], 2) for row in block["folds"])
            + ".",
            "",
            f"80 % interval coverage {_f(block['interval_coverage'], 3)} ({_f(cov[0], 3)}–{_f(cov[1], 3)}); per fold "
            + ", ".join(_f(r["coverage"], 2) for r in block["folds"])
            + " (with the head's pooled quantiles only: "
            + ", ".join(_f(r.get("coverage_pooled_quantiles"), 2) for r in block["folds"])
            + f"). Fall label: base rate {_f(f['base_rate'], 3)}, Brier {_md_ci(f, 'brier', 4)} vs base rate "
            f"{_f(f['brier_base_rate'])}, **Brier skill {_f(f['brier_skill'], 3)}**, AUC {_f(f['auc'], 3)}.",
            "",
        ]
    risk = report["risk"]
    names = ("model", "closed_form", next(k for k in risk["slices"]["all"] if k.startswith("hf_rule")), "climatology")
    out += [
        "#### Liquidation risk — Brier (95 % block-bootstrap interval) and AUC",
        "",
        "| slice | n | base rate | " + " | ".join(f"{n} Brier | AUC" for n in names) + " | model Brier skill |",
        "|---|---|---|" + "---|---|" * len(names) + "---|",
    ]
    for name, b in risk["slices"].items():
        cells = [name, f"{b['samples']:,}", _f(b["base_rate"], 3)]
        for n in names:
            cells += [_md_ci(b[n], "brier", 4), _f(b[n]["auc"], 3)]
        out.append("| " + " | ".join([*cells, _f(b["model_brier_skill"], 3)]) + " |")
    for horizon, tables in risk["reliability"].items():
        out += [
            "",
            f"#### Reliability {horizon} (walk-forward)",
            "",
            "| bin | model n | forecast | observed | closed-form n | forecast | observed |",
            "|---|---|---|---|---|---|---|",
        ]
        for m, c in zip(tables["model"], tables["closed_form"], strict=True):
            out.append(
                f"| {m['bin']} | {m['count']:,} | {_f(m['mean_forecast'])} | {_f(m['observed'])} | "
                f"{c['count']:,} | {_f(c['mean_forecast'])} | {_f(c['observed'])} |"
            )
    return "\n".join(out) + "\n"
