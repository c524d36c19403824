"""History from archive nodes: past market state read through the same plans as ingest."""
