"""Per-step clip features, one module each: ``visual`` (image backbones over timm or ONNX
Runtime), ``audio`` (log-mel), ``extract`` (a clip's decode-and-embed loop) and ``cache`` (the
disk cache).

Nothing is imported here: ``cache`` and ``audio`` need no torch, and the GUI starts without
loading torch by importing only them (the backbones load in a worker).
"""
