"""The evaluation report as plain text (the CLI prints it; docs/models.md quotes it)."""

from __future__ import annotations

from typing import Any


def _f(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def format_report(report: dict[str, Any]) -> str:
    window = report.get("data_window", {})
    lines = [
        f"Data: {report.get('data_source', '?')}",
        f"Data window: {window.get('start')} .. {window.get('end')}",
        "",
    ]
    lines.append("APY forecast (mean APY over the horizon; time-ordered hold-out; errors in percentage points)")
    lines.append(
        f"{'head':<12}{'n':>7}  {'model MAE':>9} {'RMSE':>7}  {'persist MAE':>11} {'RMSE':>7}  {'rollmean MAE':>12} {'RMSE':>7}  {'cover80':>7} {'width':>6}  beats persistence"
    )
    for key, block in report["apy"].items():
        roll = next(v for k, v in block.items() if k.startswith("rolling_mean"))
        lines.append(
            f"{key:<12}{block['samples']:>7}  {_f(block['model']['mae_pp'], 3):>9} {_f(block['model']['rmse_pp'], 3):>7}  "
            f"{_f(block['persistence']['mae_pp'], 3):>11} {_f(block['persistence']['rmse_pp'], 3):>7}  "
            f"{_f(roll['mae_pp'], 3):>12} {_f(roll['rmse_pp'], 3):>7}  {_f(block['interval_coverage'], 2):>7} {_f(block.get('interval_mean_width_pp'), 2):>6}  "
            f"{'yes' if block['beats_persistence'] else 'NO'}"
        )
    lines += [
        "",
        "APY MAE per market (pp): model / persistence / rolling mean; * = model worse than persistence, = tie",
    ]
    heads = list(report["apy"])
    markets = sorted({m for block in report["apy"].values() for m in block.get("per_market", {})})
    if markets:
        lines.append(f"{'market':<36}" + "".join(f"{h:>24}" for h in heads))
        for market in markets:
            cells = []
            for h in heads:
                pm = report["apy"][h].get("per_market", {}).get(market)
                if pm is None:
                    cells.append(f"{'-':>24}")
                    continue
                diff = pm["model_mae_pp"] - pm["persistence_mae_pp"]
                flag = "=" if abs(diff) < 0.0005 else ("*" if diff > 0 else " ")
                cell = f"{_f(pm['model_mae_pp'], 2)}/{_f(pm['persistence_mae_pp'], 2)}/{_f(pm['rolling_mean_mae_pp'], 2)}{flag}"
                cells.append(f"{cell:>24}")
            lines.append(f"{market:<36}" + "".join(cells))
    lines.append("")
    lines.append("APY 'likely to fall' classifier (fall = mean APY over horizon > 20 % below current)")
    lines.append(
        f"{'head':<12}{'base rate':>10} {'Brier':>8} {'Brier(base)':>12} {'AUC':>7} {'acc':>7} {'acc(stay)':>10}"
    )
    for key, block in report["apy"].items():
        f = block["fall"]
        lines.append(
            f"{key:<12}{_f(f['base_rate'], 3):>10} {_f(f['brier']):>8} {_f(f['brier_base_rate']):>12} "
            f"{_f(f['auc'], 3):>7} {_f(f['accuracy'], 3):>7} {_f(f['accuracy_always_stay'], 3):>10}"
        )
    risk = report["risk"]
    lines += [
        "",
        f"Liquidation risk (synthetic positions on the data's price paths; hold-out from {risk['split']['test_start']})",
    ]
    lines.append(
        f"{'slice':<14}{'n':>7} {'base':>7}  {'model Brier':>11} {'AUC':>6}  {'closed-form Brier':>17} {'AUC':>6}  {'HF<1.10 Brier':>13} {'AUC':>6}  {'1/HF AUC':>8}"
    )
    for name in ("all", "24h", "168h", "single_asset", "multi_asset"):
        if name not in risk:
            continue
        b = risk[name]
        rule = next(v for k, v in b.items() if k.startswith("hf_rule"))
        lines.append(
            f"{name:<14}{b['samples']:>7} {_f(b['base_rate'], 3):>7}  {_f(b['model']['brier']):>11} {_f(b['model']['auc'], 3):>6}  "
            f"{_f(b['closed_form_reference']['brier']):>17} {_f(b['closed_form_reference']['auc'], 3):>6}  "
            f"{_f(rule['brier']):>13} {_f(rule['auc'], 3):>6}  {_f(b['hf_rank_auc'], 3):>8}"
        )
    mc = risk.get("multi_asset_monte_carlo") or {}
    if mc:
        lines += [
            "",
            f"Multi-asset positions vs the exact correlated Monte Carlo reference ({mc['samples']} random hold-out positions, "
            f"base rate {_f(mc['base_rate'], 3)})",
        ]
        for name in ("model", "closed_form_one_factor", "monte_carlo"):
            lines.append(f"  {name:<24} Brier {_f(mc[name]['brier'])}  AUC {_f(mc[name]['auc'], 3)}")
        lines.append(
            f"  mean |model − MC| {_f(mc['mean_abs_diff_model_vs_monte_carlo'])}, "
            f"mean |one-factor − MC| {_f(mc['mean_abs_diff_one_factor_vs_monte_carlo'])}"
        )
    lines += ["", "Reliability (hold-out): forecast bin, count, mean forecast → observed frequency"]
    lines.append(
        f"{'bin':<14}{'model n':>8} {'forecast':>9} {'observed':>9}   {'reference n':>11} {'forecast':>9} {'observed':>9}"
    )
    for m, r in zip(risk["reliability_model"], risk["reliability_reference"], strict=True):
        lines.append(
            f"{m['bin']:<14}{m['count']:>8} {_f(m['mean_forecast']):>9} {_f(m['observed']):>9}   "
            f"{r['count']:>11} {_f(r['mean_forecast']):>9} {_f(r['observed']):>9}"
        )
    for item in report.get("published", []):
        lines.append(f"published {item['kind']} {item['version']} → {item['uri']} (approved: {item['approved']})")
    return "\n".join(lines) + "\n"
