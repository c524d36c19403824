"""Markets as ingested: latest rates per market and rate history for charts."""
