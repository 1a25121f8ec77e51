"""Per-prompt, per-step random streams: the same prompt, seed and settings draw the same numbers in any batch.

Every random number a step draws for a prompt comes from a torch.Generator of its own, seeded by

    stream_seed(seed, key, step, purpose) = mix(mix(mix(mix(seed) ^ key) ^ step) ^ PURPOSES[purpose])

where `mix` is the splitmix64 finaliser (Steele, Lea & Flood 2014) on 64-bit words, `seed` is the run's
`SamplerConfig.seed`, `step` the 1-based step number the trace records, and `key` = `prompt_key(ids)`: the first
8 bytes (little-endian) of the BLAKE2b digest of the prompt's token ids as little-endian int64 (the ids the
model reads: after the chat template, before any left padding). So a prompt's draws depend on its own tokens,
never on its place in the batch, the batch size or the process (Python's `hash()` is salted per process and is
not used). Two copies of one prompt in a batch draw the same numbers; for independent runs use other seeds.

Purposes (each its own stream, so that whether one draw happens never shifts another):
    candidates  [N, m] float32: the inverse-CDF uniform of each particle's candidate positions (`draw_candidates`)
    policy      [N, Lb] float32: the random unmasking policy's scores (`select_commits`)
    resampling  [N] float64: the resampling positions (`sampler.resampling`; systematic reads the first)
    growth      [N' - N] float64: a branch that grows to N' particles draws its copies with these, at its branch
                step t (`sampler.branch.BranchStart.grow`)

The numbers are drawn on the CPU (Mersenne Twister) whatever the device, then copied to it in one transfer per
draw: the same seed gives the same uniforms on a CPU and a GPU. A step's draws are O(P·N·block) numbers, not
O(vocabulary): the loop over prompts is only over these small draws, the maths stays batched.

Where the schedule is fixed (top-k and random policies) a prompt's trace is the same alone or in any batch, as
far as the model's logits are (exactly with float32 weights; in bfloat16 the left padding of a batch changes
them by rounding, which can flip a draw). Under the threshold policy a batch keeps a block open until every prompt has finished it, so the step numbers (and
the steps recorded) of one prompt can depend on its batch-mates.
"""
import hashlib
from dataclasses import dataclass

import torch

MASK64 = (1 << 64) - 1
PURPOSES = {"candidates": 1, "policy": 2, "resampling": 3, "growth": 4}


def mix(z: int) -> int:
    """splitmix64's output function: a bijective 64-bit mix of `z + golden ratio`."""
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def prompt_key(ids: list[int]) -> int:
    """A stable 64-bit key of a prompt's token ids (BLAKE2b, the same in every process and on every machine)."""
    data = b"".join(int(i).to_bytes(8, "little", signed=True) for i in ids)
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def stream_seed(seed: int, key: int, step: int, purpose: str) -> int:
    """The seed of prompt `key`'s generator for `purpose` at `step` (see the module docstring)."""
    return mix(mix(mix(mix(seed & MASK64) ^ key) ^ (step & MASK64)) ^ PURPOSES[purpose])


@dataclass(frozen=True)
class StepStreams:
    """The random streams of one step: one generator per prompt and purpose. `uniform` is all `step()` calls."""

    seed: int
    keys: tuple[int, ...]  # [P] prompt keys, in batch order
    step: int
    device: torch.device

    def uniform(self, purpose: str, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """U[0, 1) draws `[P·shape[0], *shape[1:]]` on the device: prompt p's block of rows from its own stream
        (rows grouped by prompt as in the sampler: row p·N + i for `shape = (N, ...)`)."""
        gen = torch.Generator()
        draws = [torch.rand(shape, generator=gen.manual_seed(stream_seed(self.seed, key, self.step, purpose)),
                            dtype=dtype) for key in self.keys]
        return torch.cat(draws).to(self.device, non_blocking=True)


@dataclass(frozen=True)
class RandomStreams:
    """A run's random streams: `at(step)` gives the streams `step()` takes for that step."""

    seed: int
    keys: tuple[int, ...]
    device: torch.device

    @classmethod
    def for_prompts(cls, seed: int, prompt_ids: list[list[int]], device: str | torch.device) -> "RandomStreams":
        return cls(seed, tuple(prompt_key(ids) for ids in prompt_ids), torch.device(device))

    def at(self, step: int) -> StepStreams:
        return StepStreams(self.seed, self.keys, step, self.device)
