"""Liquidation-risk and APY forecasting: reference maths, feature building and lean inference.

Everything here needs numpy only (plus pydantic for payloads): the serving path evaluates
exported model parameters without importing scikit-learn or scipy. Training lives in
`functions/risk/training.py`, which is the only place that imports scikit-learn.
"""
