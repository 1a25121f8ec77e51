"""Sweeps over many prompts, in one process or sharded over the processes of `torchrun`.

    torchrun --standalone --nproc-per-node 2 -m sampler --prompts-file F --jsonl out.jsonl ...

`ranks()` joins the process group `torchrun` describes in the environment (gloo on CPU, NCCL when the
device is CUDA, each rank on cuda:LOCAL_RANK); `sweep()` runs one unit of work per config (a batch of
prompts), config i on rank i mod K, and hands rank 0 every result in config order, gathered with
torch.distributed's object collectives after every round of K configs. A batch's prompts, and so its
padding and its trace, are the same as in a one-process run, and each prompt draws from its own random
streams (`sampler.streams`): the output is the one-process output. The CLI and `benchmarks.quality` both
decode through `sweep()`.
"""
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence, TypeVar

import torch
import torch.distributed as dist

from sampler.config import SamplerConfig

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """This process's place in the sweep."""

    rank: int
    world: int

    @property
    def leader(self) -> bool:
        """Rank 0: the one that gets every result and writes the output."""
        return self.rank == 0


@contextmanager
def ranks(device: str) -> Iterator[Ranks]:
    """The process group `torchrun` set up in the environment (WORLD_SIZE > 1), joined for the `with` block:
    NCCL when `device` is CUDA (this rank then decodes on cuda:LOCAL_RANK, which becomes the current device,
    so `device` must name no index), gloo otherwise. Without torchrun: one rank, nothing to join."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        yield Ranks(0, 1)
        return
    cuda = torch.device(device).type == "cuda"
    if cuda:
        if torch.device(device).index is not None:
            raise ValueError(f"device = {device!r}: under torchrun give 'cuda'; each rank uses cuda:LOCAL_RANK")
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield Ranks(dist.get_rank(), world)
    finally:
        dist.destroy_process_group()


def sweep(configs: Sequence[SamplerConfig], work: Callable[[SamplerConfig], T]) -> Iterator[tuple[int, T]]:
    """Yield `(i, work(configs[i]))` for every config, in order of i, on rank 0; other ranks run their share
    (i ≡ rank mod K) and yield nothing. `work` returns host objects (they are pickled to rank 0). Every rank
    must run the generator to its end: each round of K configs ends in one `gather_object`."""
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    for first in range(0, len(configs), world):
        i = first + rank
        mine = work(configs[i]) if i < len(configs) else None
        if world == 1:
            yield i, mine
            continue
        gathered = [None] * world if rank == 0 else None
        dist.gather_object(mine, gathered, dst=0)
        if rank == 0:
            yield from ((first + k, r) for k, r in enumerate(gathered) if first + k < len(configs))
