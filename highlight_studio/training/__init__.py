"""Unsupervised RASL training: windows, datasets, the training loop and collapse diagnostics."""
