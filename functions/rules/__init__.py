"""The rules function."""
