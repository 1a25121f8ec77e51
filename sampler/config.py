"""The sampler's settings: one validated, immutable dataclass."""
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Literal

import torch

Policy = Literal["topk", "threshold", "random"]
Confidence = Literal["untempered", "tempered"]
Method = Literal["smc", "best_of_n"]
Scheme = Literal["multinomial", "systematic", "stratified", "residual"]
ResampleWhen = Literal["every_step", "block_end", "every_k"]
FinalPick = Literal["sum_logp", "mean_logp", "max_weight"]
CacheMode = Literal["none", "prefix", "dual"]
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
SWITCH = {"auto": None, "on": True, "off": False}  # a `bool | None` setting (None: the model decides) as a switch
# top_k_alternatives: a trace grows by about 11 bytes per alternative and commit; at ≤ 5 a Run within the app's
# default cost limit always loads back (explorer.limits: (1 + 0.4·5) × 150,000 ≤ 500,000 cell-steps)
MAX_ALTERNATIVES = 5
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


INT64_MAX = 2**63 - 1  # seeds and tensor sizes are 64-bit
DEVICE_TYPES = ("cpu", "cuda", "mps")  # where the sampler runs; torch's other device types (meta, ...) are refused


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_str(value) -> bool:
    return isinstance(value, str)


def _valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(value) -> str:
    """A value for an error message: repr, clipped (a field may hold anything a file or a client sent)."""
    if _is_int(value) and abs(value) > 10**30:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _device_type(name: str) -> str | None:
    try:
        return torch.device(name).type
    except (RuntimeError, ValueError, TypeError):
        return None


def _field(default, help_text: str):
    """A dataclass field with one line of help (`SamplerConfig.help()`)."""
    return field(default=default, metadata={"help": help_text})


def _choices(literal) -> tuple[str, ...]:
    return literal.__args__


@dataclass(frozen=True)
class SamplerConfig:
    """How to decode.

    `method="smc"` with `n_particles=1` is greedy confidence decoding (with one particle
    the ESS is always 1 and nothing resamples); `method="best_of_n"` runs N independent
    particles, never resamples, and picks the final answer by the same score.
    """

    prompts: tuple[str, ...] = _field(("",), "the prompt texts; each gets its own group of particles")
    gen_length: int = _field(64, "tokens to generate after the prompt")
    steps: int = _field(64, "decoding steps in all (a multiple of the number of blocks); unused by the threshold policy")
    block_length: int | None = _field(None, "positions decoded per block, left to right (None: one block)")
    temperature: float = _field(1.0, "τ of the proposal softmax(logits/τ); 0 = argmax")
    policy: Policy = _field("topk", "which positions commit: the k most confident, k random, or by threshold")
    threshold: float = _field(0.9, "ρ of the threshold policy: also commit every position with confidence ≥ ρ")
    confidence: Confidence = _field("untempered", "log c from softmax(logits) (LLaDA) or softmax(logits/τ) (Dream)")
    method: Method = _field("smc", "smc: SR-SMC (N = 1 is greedy confidence decoding); best_of_n: never resample")
    n_particles: int = _field(4, "N particles per prompt")
    ess_threshold: float = _field(0.5, "κ: resample when ESS < κ·N")
    resampling: Scheme = _field("multinomial", "how ancestors are drawn from the weights")
    resample_when: ResampleWhen = _field("every_step", "when the ESS is checked: every step, block ends, every k")
    resample_every: int = _field(1, "k of resample_when = every_k")
    final_pick: FinalPick = _field("sum_logp", "the answer: highest summed / mean log-confidence, or highest weight")
    reward_weight: float = _field(1.0, "beyond the paper: α in log w += α·Σ log c; 1 = the paper, 0 = best-of-N")
    repetition_penalty: float = _field(1.0, "beyond the paper: divide positive (multiply negative) logits of tokens "
                                       "already in the particle by this; 1 = off")
    no_repeat_ngram: int = _field(0, "beyond the paper: refuse a token that, with committed neighbours, completes an "
                                  "n-gram already in the particle; 0 = off")
    chat_template: bool | None = _field(None, "wrap each prompt in the model's chat template; None = the model's "
                                        "default (on for Instruct checkpoints, off where there is none)")
    cache: CacheMode = _field("none", "KV cache per block: none = exact; prefix reuses the prompt's and finished "
                              "blocks' keys/values, dual the suffix's too; approximate for bidirectional models "
                              "(LLaDA, Dream, MDLM, austen-mdlm), exact for BD3-LM")
    top_k_alternatives: int = _field(5, "alternatives recorded per committed position: the k most likely candidate "
                                     "tokens with their probabilities, and the committed token's rank; 0 = off")
    seed: int = _field(0, "seed of the run's torch.Generator: same seed and settings, same trace")
    device: str = _field("cpu", "torch device to decode on")
    dtype: str = _field("auto", "model weights' dtype; auto = bfloat16 where the hardware runs it fast")

    @classmethod
    def help(cls) -> dict[str, str]:
        """One line of help per field, for the UI and the CLI."""
        return {f.name: f.metadata["help"] for f in fields(cls)}

    def __post_init__(self):
        if isinstance(self.prompts, str):
            object.__setattr__(self, "prompts", (self.prompts,))
        elif isinstance(self.prompts, (list, tuple)):
            object.__setattr__(self, "prompts", tuple(self.prompts))
        if self.block_length is None:
            object.__setattr__(self, "block_length", self.gen_length)
        self.validate()

    @property
    def num_blocks(self) -> int:
        return self.gen_length // self.block_length

    @property
    def planned_steps(self) -> int:
        """Steps the schedule plans: `steps`, or up to one per token under the threshold policy."""
        return self.gen_length if self.policy == "threshold" else self.steps

    def validate(self) -> None:
        """Raise ValueError naming the field and its allowed range: types first (whole numbers are ints of at
        most 64 bits, not bools; real numbers finite; strings valid text), then ranges and choices."""
        def need(ok: bool, field: str, allowed: str):
            if not ok:
                raise ValueError(f"{field} = {_shown(getattr(self, field))}: must be {allowed}")

        def whole(name: str, lo: int, allowed: str) -> None:
            value = getattr(self, name)
            need(_is_int(value) and lo <= value <= INT64_MAX, name, f"{allowed} (a whole number ≤ 2^63 − 1)")

        def real(name: str) -> None:
            value = getattr(self, name)
            need(_is_real(value) and math.isfinite(value), name, "a finite number")

        need(isinstance(self.prompts, tuple) and len(self.prompts) >= 1 and all(isinstance(p, str)
                                                                               for p in self.prompts),
             "prompts", "one or more strings")
        for i, prompt in enumerate(self.prompts):
            if not _valid_text(prompt):
                raise ValueError(f"prompts[{i}]: holds a character that is not valid text (a lone surrogate, or "
                                 "bytes that are not UTF-8)")
        whole("gen_length", 1, "an integer ≥ 1")
        need(_is_int(self.block_length) and 1 <= self.block_length <= self.gen_length, "block_length",
             f"an integer in [1, gen_length={self.gen_length}]")
        need(self.gen_length % self.block_length == 0, "block_length",
             f"a divisor of gen_length={self.gen_length}")
        need(_is_int(self.steps) and self.num_blocks <= self.steps <= self.gen_length, "steps",
             f"an integer in [number of blocks={self.num_blocks}, gen_length={self.gen_length}]")
        need(self.steps % self.num_blocks == 0, "steps", f"a multiple of the number of blocks ({self.num_blocks})")
        for name in ("temperature", "threshold", "ess_threshold", "reward_weight", "repetition_penalty"):
            real(name)
        need(self.temperature >= 0, "temperature", "≥ 0 (0 = argmax)")
        need(0 < self.threshold <= 1, "threshold", "in (0, 1]")
        whole("n_particles", 1, "an integer ≥ 1")
        need(0 <= self.ess_threshold <= 1, "ess_threshold", "in [0, 1]")
        whole("resample_every", 1, "an integer ≥ 1")
        whole("seed", 0, "an integer ≥ 0")
        need(_is_int(self.top_k_alternatives) and 0 <= self.top_k_alternatives <= MAX_ALTERNATIVES,
             "top_k_alternatives", f"an integer in [0, {MAX_ALTERNATIVES}] (0 = off)")
        need(self.chat_template is None or isinstance(self.chat_template, bool), "chat_template",
             "true, false or null (the model's default)")
        need(0 <= self.reward_weight <= 1, "reward_weight", "in [0, 1] (1 = the paper, 0 = best-of-N)")
        need(1 <= self.repetition_penalty, "repetition_penalty", "a finite number ≥ 1 (1 = off)")
        need(_is_int(self.no_repeat_ngram) and (self.no_repeat_ngram == 0 or 2 <= self.no_repeat_ngram <= INT64_MAX),
             "no_repeat_ngram", "0 (off) or an integer ≥ 2")
        for name, literal in (("policy", Policy), ("confidence", Confidence), ("method", Method),
                              ("resampling", Scheme), ("resample_when", ResampleWhen), ("final_pick", FinalPick),
                              ("cache", CacheMode)):
            need(_is_str(getattr(self, name)) and getattr(self, name) in _choices(literal), name,
                 "one of " + ", ".join(_choices(literal)))
        need(_is_str(self.dtype) and self.dtype in DTYPE_CHOICES, "dtype", "one of " + ", ".join(DTYPE_CHOICES))
        need(_is_str(self.device) and _device_type(self.device) in DEVICE_TYPES, "device",
             "a torch device: " + ", ".join(f"'{d}'" for d in DEVICE_TYPES) + " (optionally with an index, 'cuda:1')")

    def check_device(self) -> None:
        """Whether this machine has `device` (ValueError naming it if not); a trace's config is not checked
        against the machine that reads it, so this is separate from `validate`."""
        device = torch.device(self.device)
        if device.type == "cuda" and not (torch.cuda.is_available()
                                          and (device.index or 0) < torch.cuda.device_count()):
            raise ValueError(f"device = {self.device!r}: this machine has no such CUDA device "
                             f"({torch.cuda.device_count()} found); use 'cpu'")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device = {self.device!r}: MPS is not available on this machine; use 'cpu'")

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
