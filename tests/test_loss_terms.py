"""One table of loss terms (model.loss_terms.LOSS_TERMS): the losses compute each row, its
switch turns it on and off, and the trainer's events and checkpoint, the run log, the
``train`` command's bar and summary, and the model card all carry every row. The panel's curves
and tick boxes are checked in tests/gui/test_training_panel.py. A term added to the losses
without a row, or a row one of these places leaves out, fails here."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from highlight_studio.commands.train import _postfix
from highlight_studio.model.config import RASLConfig
from highlight_studio.model.description import read_meta
from highlight_studio.model.loss_terms import LOSS_TERMS, SWITCHABLE, TERM_NAMES
from highlight_studio.model.losses import total_loss
from highlight_studio.model.rasl import RASL
from highlight_studio.training.card import model_card
from highlight_studio.training.datasets import FeatureDataset
from highlight_studio.training.finetune import train_on
from highlight_studio.training.options import TrainOptions
from highlight_studio.training.runs import FineTuneRequest, FineTuneResult
from highlight_studio.training.trainer import TrainEvent

torch.set_num_threads(1)
TINY = dict(visual_dim=16, audio_dim=12, window=8, k=2, enc_channels=(2, 3, 3), proj_dim=4)
ALL_ON = dict(spread_weight=1.0, axis_weight=1.0)  # the terms off by default, switched on


def _terms(config: RASLConfig) -> dict[str, float]:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = RASL(config)
    visual, audio = torch.rand(3, 8, 16, generator=g), torch.rand(3, 8, 12, generator=g)
    out = model(visual, audio, mask=torch.rand(3, 8, generator=g) < 0.5)
    target = torch.randn(3, 8, generator=g)
    return {name: float(value.detach()) for name, value
            in total_loss(model, out, axis_target=target).terms.items()}


def test_the_losses_compute_exactly_the_table_s_terms() -> None:
    assert tuple(_terms(RASLConfig(**TINY, **ALL_ON))) == TERM_NAMES


@pytest.mark.parametrize("term", LOSS_TERMS, ids=TERM_NAMES)
def test_each_row_s_switch_turns_its_term_on_and_off(term) -> None:
    config = RASLConfig(**TINY, **ALL_ON)
    assert term.is_on(config) and _terms(config)[term.name] != 0.0
    off = dataclasses.replace(config, **{term.switch: type(getattr(config, term.switch))(0)})
    assert not term.is_on(off) and _terms(off)[term.name] == 0.0


def test_events_the_log_the_checkpoint_the_cli_and_the_card_carry_every_term(tmp_path) -> None:
    fields = {f.name for f in dataclasses.fields(TrainEvent)}
    assert set(TERM_NAMES) <= fields
    rng = np.random.default_rng(0)
    dataset = FeatureDataset({f"c{i}": (rng.random((12, 16), np.float32),
                                        rng.random((12, 16), np.float32)) for i in range(2)})
    request = FineTuneRequest(inputs=(), out=str(tmp_path / "m"), window=8,
                              options=TrainOptions(steps=2, batch_size=2, log_every=1),
                              config={"k": 2, **ALL_ON, "use_scl": False})
    events = list(train_on(request, dataset, "tiny", 1.0))
    result = events[-1]
    assert isinstance(result, FineTuneResult)
    last = events[-2]
    assert isinstance(last, TrainEvent) and last.axis != 0.0 and last.spread != 0.0
    line = json.loads(request.checkpoint.with_name("m.safetensors.log.jsonl")
                      .read_text().splitlines()[-1])
    meta = read_meta(result.checkpoint)
    for place in (line, meta.final_losses, _postfix(last)):
        assert set(TERM_NAMES) <= set(place), place
    assert list(_postfix(last)) == [*TERM_NAMES, "total"]  # the bar shows axis too
    card = model_card("m", meta, request, 1.0)
    assert "losses: kpoint, aux\n" in card  # the switchable terms that are on, scl off
    assert all(f"| {name} |" in card for name in TERM_NAMES)


def test_the_switchable_terms_are_the_panel_s_and_named_by_config_flags() -> None:
    fields = {f.name for f in dataclasses.fields(RASLConfig)}
    assert all(term.switch in fields for term in LOSS_TERMS)
    assert [term.name for term in SWITCHABLE] == ["kpoint", "scl", "aux"]
