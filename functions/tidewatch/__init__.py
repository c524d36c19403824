"""Tidewatch's shared domain core, imported by every Lambda function."""
