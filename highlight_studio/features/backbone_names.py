"""The names of the frame backbones :mod:`.visual` can build, readable without torch or timm.

The window lists only models trained on one of these at start-up, before anything has imported
torch (see :func:`highlight_studio.scoring.frame_backbone`); ``visual.register_backbone``
refuses a name missing here, so the two cannot drift apart.
"""

FRAME_BACKBONES = ("tf_efficientnet_lite0", "swin_base_patch4_window7_224", "test_tiny")
