"""Liquidation-risk and APY forecasting: reference maths, feature building and lean inference.

Everything here needs numpy only (plus pydantic for payloads): the serving path evaluates
exported model parameters without importing scikit-learn or scipy. Training lives in
the `training` function package (`functions/training/`), the only place that imports scikit-learn.
"""
