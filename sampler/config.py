"""The sampler's settings: one validated, immutable dataclass."""
from dataclasses import asdict, dataclass, fields
from typing import Literal

import torch

Policy = Literal["topk", "threshold", "random"]
Confidence = Literal["untempered", "tempered"]
Method = Literal["smc", "best_of_n"]
Scheme = Literal["multinomial", "systematic", "stratified", "residual"]
ResampleWhen = Literal["every_step", "block_end", "every_k"]
FinalPick = Literal["sum_logp", "mean_logp", "max_weight"]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DTYPE_CHOICES = ("auto", *DTYPES)  # auto: bfloat16 where the hardware runs it fast, else float32


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has bfloat16 matrix instructions (AVX512-BF16 or AMX), read from /proc/cpuinfo (Linux)."""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(name: str, device: str | torch.device) -> torch.dtype:
    """The weights' dtype for `name` on `device`: "auto" is bfloat16 on CUDA with bf16 support and on CPUs with
    AVX512-BF16/AMX, float32 elsewhere (bf16 is slower than fp32 on CPUs without those instructions)."""
    if name != "auto":
        return DTYPES[name]
    device = torch.device(device)
    if device.type == "cuda":
        fast = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    else:
        fast = device.type == "cpu" and cpu_has_fast_bf16()
    return torch.bfloat16 if fast else torch.float32


def _choices(literal) -> tuple[str, ...]:
    return literal.__args__


@dataclass(frozen=True)
class SamplerConfig:
    """How to decode.

    `method="smc"` with `n_particles=1` is greedy confidence decoding (with one particle
    the ESS is always 1 and nothing resamples); `method="best_of_n"` runs N independent
    particles, never resamples, and picks the final answer by the same score.
    """

    prompts: tuple[str, ...] = ("",)
    gen_length: int = 64
    steps: int = 64
    block_length: int | None = None  # None: one block of gen_length
    temperature: float = 1.0  # 0 = argmax
    policy: Policy = "topk"
    threshold: float = 0.9  # ρ of the threshold policy
    confidence: Confidence = "untempered"
    method: Method = "smc"
    n_particles: int = 4
    ess_threshold: float = 0.5  # κ: resample when ESS < κ·N
    resampling: Scheme = "multinomial"
    resample_when: ResampleWhen = "every_step"
    resample_every: int = 1  # k of resample_when="every_k"
    final_pick: FinalPick = "sum_logp"
    seed: int = 0
    device: str = "cpu"
    dtype: str = "auto"

    def __post_init__(self):
        prompts = (self.prompts,) if isinstance(self.prompts, str) else tuple(self.prompts)
        object.__setattr__(self, "prompts", prompts)
        if self.block_length is None:
            object.__setattr__(self, "block_length", self.gen_length)
        self.validate()

    @property
    def num_blocks(self) -> int:
        return self.gen_length // self.block_length

    def validate(self) -> None:
        """Raise ValueError naming the field and its allowed range."""
        def need(ok: bool, field: str, allowed: str):
            if not ok:
                raise ValueError(f"{field} = {getattr(self, field)!r}: must be {allowed}")

        need(len(self.prompts) >= 1 and all(isinstance(p, str) for p in self.prompts), "prompts",
             "one or more strings")
        need(isinstance(self.gen_length, int) and self.gen_length >= 1, "gen_length", "an integer ≥ 1")
        need(isinstance(self.block_length, int) and 1 <= self.block_length <= self.gen_length, "block_length",
             f"an integer in [1, gen_length={self.gen_length}]")
        need(self.gen_length % self.block_length == 0, "block_length",
             f"a divisor of gen_length={self.gen_length}")
        need(isinstance(self.steps, int) and self.num_blocks <= self.steps <= self.gen_length, "steps",
             f"an integer in [number of blocks={self.num_blocks}, gen_length={self.gen_length}]")
        need(self.steps % self.num_blocks == 0, "steps", f"a multiple of the number of blocks ({self.num_blocks})")
        need(self.temperature >= 0 and self.temperature == self.temperature, "temperature", "≥ 0 (0 = argmax)")
        need(0 < self.threshold <= 1, "threshold", "in (0, 1]")
        need(isinstance(self.n_particles, int) and self.n_particles >= 1, "n_particles", "an integer ≥ 1")
        need(0 <= self.ess_threshold <= 1, "ess_threshold", "in [0, 1]")
        need(isinstance(self.resample_every, int) and self.resample_every >= 1, "resample_every", "an integer ≥ 1")
        need(isinstance(self.seed, int) and self.seed >= 0, "seed", "an integer ≥ 0")
        for name, literal in (("policy", Policy), ("confidence", Confidence), ("method", Method),
                              ("resampling", Scheme), ("resample_when", ResampleWhen), ("final_pick", FinalPick)):
            need(getattr(self, name) in _choices(literal), name, "one of " + ", ".join(_choices(literal)))
        need(self.dtype in DTYPE_CHOICES, "dtype", "one of " + ", ".join(DTYPE_CHOICES))
        try:
            torch.device(self.device)
        except RuntimeError:
            need(False, "device", "a torch device such as 'cpu' or 'cuda'")

    def check_model(self, max_length: int, prompt_lengths: list[int], required_block_length: int | None) -> None:
        """Checks that need the model: sequence length and a block size the checkpoint fixes."""
        longest = max(prompt_lengths)
        if longest + self.gen_length > max_length:
            raise ValueError(f"gen_length = {self.gen_length}: prompt ({longest} tokens) + gen_length must be "
                             f"≤ the model's maximum length {max_length}")
        if required_block_length is not None and self.block_length % required_block_length:
            raise ValueError(f"block_length = {self.block_length}: this model decodes in blocks of "
                             f"{required_block_length}; use a multiple of it")

    def replace(self, **changes) -> "SamplerConfig":
        return SamplerConfig(**{**self.to_dict(), **changes})

    def to_dict(self) -> dict:
        out = asdict(self)
        out["prompts"] = list(self.prompts)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "SamplerConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(sorted(unknown))}")
        return cls(**{**d, "prompts": tuple(d.get("prompts", ("",)))})
