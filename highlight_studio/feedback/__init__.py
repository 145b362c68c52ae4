"""Learning from the editor: decisions as data (``store``), a fast learner over the
unsupervised curve (``learner``), profiles across clips (``profiles``), the curve a clip gets
from them (``adapt``) and a simulated editor on the benchmarks (``simulate``). Qt-free."""
