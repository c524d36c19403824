"""Tidewatch's local run: CLI, local Lambda invoker, local API gateway, embedded stores, devnet."""
