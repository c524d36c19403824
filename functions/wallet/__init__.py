"""The wallet function."""
