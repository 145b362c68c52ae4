"""Highlight Studio: unsupervised video highlight detection for editors."""

__version__ = "0.1.0"
