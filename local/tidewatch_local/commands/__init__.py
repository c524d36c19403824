"""CLI command modules: each exposes `register(subparsers)`; the CLI imports every module here."""
