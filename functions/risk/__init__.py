"""The risk function."""
