"""Automation rules: the rule model, vectorised evaluation, actions (notify, prepare tx, webhook)."""
