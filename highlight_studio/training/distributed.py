"""Data-parallel training across processes started by ``torchrun`` (gloo on CPUs, NCCL on GPUs).

A run under ``torchrun --nproc-per-node N`` is one training run whose every step is the step
one process would take on the same global batch:

- every rank seeds the same generators and draws the *whole* global batch (which clips, which
  offsets, which steps are masked), then keeps its own rows (:func:`shard_rows`): the batch is
  the same set of windows, and the generator's state after a step does not depend on N;
- gradients are averaged over the ranks after every backward pass (:func:`average_gradients`),
  and each rank's loss is the mean over its equal share of the batch, so the average is the
  gradient of the global mean;
- rank 0's weights are broadcast at the start (:func:`broadcast_weights`), so a run started
  from ``--init`` or resumed from a checkpoint starts from one set of weights everywhere.

Because the optimizer, its state and the generator state are the same on every rank, the
checkpoint rank 0 writes resumes a run on any number of processes with the same global batch.

Gradients are averaged here rather than by ``DistributedDataParallel``: the k-point loss runs
the model's projection heads outside ``forward`` and some parameters get no gradient on some
steps (before ``kpoint_after``, or an audio branch on a rank whose windows have no audio),
two cases DDP's reducer refuses or gets wrong. One flat all-reduce per step is what it would do.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ModelError


@dataclass(frozen=True)
class Ranks:
    """Where this process sits in the run (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """The one process that writes checkpoints, logs and the model card."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def current() -> Ranks:
    """This process's ranks once the process group is up (else a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    return Ranks(dist.get_rank(), dist.get_world_size(),
                 int(os.environ.get("LOCAL_RANK", dist.get_rank())))


def launched_by_torchrun() -> bool:
    """torchrun (or any launcher using its variables) started more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def device_for(name: str, ranks: Ranks) -> str:
    """The device this rank trains on: ``cuda`` becomes this node's ``cuda:<local rank>``."""
    if ranks.distributed and name == "cuda":
        return f"cuda:{ranks.local_rank}"
    return name


@contextlib.contextmanager
def process_group(device: str) -> Iterator[Ranks]:
    """Join the run torchrun started (NCCL for CUDA, gloo otherwise) for the block; a process
    started alone gets a single-process :class:`Ranks` and no process group."""
    if not launched_by_torchrun() or dist.is_initialized():
        yield current()
        return
    if not dist.is_available():
        raise ModelError("This PyTorch build has no torch.distributed; run one process.")
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    try:
        dist.init_process_group(backend)
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"Cannot join the torchrun process group ({backend}): {exc}") from exc
    try:
        yield current()
        # Ranks end at different times (rank 0 alone writes the model); tearing gloo down on
        # one rank while another still runs aborted that rank now and then ("terminate called
        # without an active exception"), so a finished run leaves together.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def shard_rows(batch_size: int, ranks: Ranks) -> slice:
    """This rank's rows of a global batch of ``batch_size`` windows (equal shares)."""
    if batch_size % ranks.world_size:
        raise ModelError(f"The batch of {batch_size} windows does not split evenly over "
                         f"{ranks.world_size} processes; make --batch-size a multiple of "
                         f"{ranks.world_size} (it is the global batch).")
    share = batch_size // ranks.world_size
    return slice(ranks.rank * share, (ranks.rank + 1) * share)


def broadcast_weights(model: torch.nn.Module) -> None:
    """Every rank starts from rank 0's weights."""
    for tensor in model.state_dict().values():
        dist.broadcast(tensor, src=0)


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """Replace each gradient by its mean over the ranks, in one flat all-reduce.

    A parameter without a gradient on this rank counts as a zero one; it gets the mean if any
    rank has a gradient for it (as one process with the whole batch would), and keeps none
    otherwise (so the optimizer skips it, as it would there).
    """
    world = dist.get_world_size()
    device = params[0].device
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                      for p in params])
    dist.all_reduce(has)
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for param, any_grad in zip(params, has.tolist(), strict=True):
        n = param.numel()
        param.grad = flat[offset:offset + n].view_as(param).clone() if any_grad else None
        offset += n


def all_true(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` holds on every rank."""
    tensor = torch.tensor([0.0 if flag else 1.0], device=device)
    dist.all_reduce(tensor)
    return bool(tensor.item() == 0.0)


def mean_over_ranks(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Logged figures averaged over the ranks (the global batch's, for equal shares)."""
    names = list(values)
    tensor = torch.tensor([values[n] for n in names], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    tensor /= dist.get_world_size()
    return dict(zip(names, tensor.tolist(), strict=True))
