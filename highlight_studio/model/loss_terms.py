"""The loss terms RASL trains on, in one table.

The losses (:mod:`.losses`) compute a value for every row, the trainer logs each row's value in
its events, the run log and the checkpoint, the ``train`` command prints them and the training
panel draws them and offers a tick box for each one a fine-tuning run may switch. All of them
loop over :data:`LOSS_TERMS`, so a new term is one row here (plus its computation). Torch-free:
the window and ``--help`` read it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import RASLConfig


@dataclass(frozen=True)
class LossTerm:
    """One term of the total loss (Eq. 11, or an anti-collapse / self-training addition)."""

    name: str  # the key of the losses' terms, the TrainEvent field, the run log and the card
    label: str  # the panel's legend entry
    switch: str  # the RASLConfig field that turns it on: a use_* flag, or a weight above 0
    colour: tuple[int, int, int]  # the panel's curve (RGB)
    choice: str = ""  # the panel's tick box when a fine-tuning run may switch it; "": none

    def is_on(self, config: RASLConfig) -> bool:
        """Whether ``config`` trains this term."""
        return bool(getattr(config, self.switch))


LOSS_TERMS = (
    LossTerm("recon", "L_e reconstruction", "use_recon_loss", (60, 140, 255)),
    LossTerm("kpoint", "L_r k-point", "use_kpoint_loss", (255, 170, 40), "k-point (L_r)"),
    LossTerm("scl", "L_s audio-visual", "use_scl", (80, 200, 120), "audio-visual SCL (L_s)"),
    LossTerm("aux", "L_au masked", "use_aux_task", (200, 90, 220), "masked auxiliary (L_au)"),
    LossTerm("spread", "activation spread", "spread_weight", (90, 200, 220)),
    LossTerm("axis", "main-axis self-training", "axis_weight", (240, 90, 90)),
)
TERM_NAMES = tuple(term.name for term in LOSS_TERMS)
# The terms a fine-tuning run may switch on or off (the panel's tick boxes).
SWITCHABLE = tuple(term for term in LOSS_TERMS if term.choice)
