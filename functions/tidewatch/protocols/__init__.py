"""DeFi protocols Tidewatch reads: the market registry, one adapter per protocol, rate conversions."""
