"""The RASL network, its losses, checkpoints and windowed inference."""
