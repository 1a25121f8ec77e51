"""What the hub adapters know before loading anything: the paper's models, their needs, and the checks.

Nothing here imports `transformers`; every check runs before a byte is downloaded.

Supported `transformers` per family (the released remote code decides, not this project):

| family | known to work | fails on 5.x because | sources |
|---|---|---|---|
| masked_lm (BERT, RoBERTa, ModernBERT) | any (native classes; fixtures run on 5.24) | - | - |
| mdlm | 4.38.2 (authors' env) | `MDLM.__init__` never calls `post_init()`: `AttributeError: ... 'all_tied_weights_keys'` | kuleshov-group/mdlm requirements.yaml; ML-GSAI/LLaDA#130, AnswerDotAI/rerankers#77 (same error) |
| bd3lm | 4.49.0 (authors' env) | as mdlm | zhihanyang2022/bd3lms requirements.txt |
| llada | 4.38.2 (README); 4.57.1 reported working | no `post_init()` call, and `tie_weights()` takes no arguments while 5.x passes `missing_keys=` | ML-GSAI/LLaDA README and #130 |
| dream | 4.46.2 (README: "other versions not fully tested") | `ROPE_INIT_FUNCTIONS` lost its `"default"` entry: `KeyError: 'default'` | DreamLM/Dream README, #83 (5.x), #26 (a newer 4.x: `weights_only`) |

The `KeyError` was checked here: transformers 5.24.0's `ROPE_INIT_FUNCTIONS` holds only linear, dynamic,
yarn, longrope, llama3 and proportional. The `post_init` failure was reproduced here with a
`PreTrainedModel` whose `__init__` skips it (`tests/fixtures/tiny_models.py`, `post_init=False`).
"""
import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch

FAMILY_TRANSFORMERS = {  # version specifiers (PEP 440) per family, from the table above
    "masked_lm": "",
    "mdlm": ">=4.38.2,<5",
    "bd3lm": ">=4.49,<5",
    "llada": ">=4.38.2,<5",
    "dream": ">=4.46.2,<5",
}
HALF_PRECISION_FAMILIES = {"llada", "dream"}  # bf16 by default on CUDA
_TRUE = {"1", "ON", "YES", "TRUE"}


class ModelLoadError(RuntimeError):
    """A model cannot be loaded here; the message names the model, the reason and what to do."""

    def __init__(self, model: str, reason: str, todo: str):
        super().__init__(f"{model}: {reason}. {todo}")
        self.model, self.reason, self.todo = model, reason, todo


@dataclass(frozen=True)
class KnownModel:
    """A model of the paper: where it lives and what it needs."""

    hub_id: str
    label: str
    family: str
    params: float  # parameter count
    hardware: str
    chat: bool = False  # apply the tokenizer's chat template to prompts
    packages: tuple[str, ...] = ()  # imported by the released model file

    @property
    def transformers(self) -> str:
        return FAMILY_TRANSFORMERS[self.family]

    def weight_bytes(self, dtype: torch.dtype) -> int:
        return int(self.params * dtype.itemsize)


_MDLM_HW = "CUDA GPU: the released model file imports flash_attn (CUDA only)"
_BD3_HW = "CPU works (SDPA sample mode, no KV cache); a GPU is much faster"
_LLADA_HW = "GPU with >= 20 GB (bf16); on CPU about 32 GB of RAM in float32, very slow"
_DREAM_HW = "GPU with >= 20 GB (bf16, authors); on CPU about 31 GB of RAM in float32, very slow"
KNOWN_MODELS = {m.hub_id: m for m in (
    KnownModel("kuleshov-group/mdlm-owt", "MDLM (OWT)", "mdlm", 170e6, _MDLM_HW, packages=("flash_attn", "einops")),
    *(KnownModel(f"kuleshov-group/bd3lm-owt-block_size{b}", f"BD3-LM L'={b}", "bd3lm", 170e6, _BD3_HW,
                 packages=("einops",)) for b in (4, 8, 16)),
    KnownModel("GSAI-ML/LLaDA-8B-Instruct", "LLaDA-8B-Instruct", "llada", 8.02e9, _LLADA_HW, chat=True),
    KnownModel("GSAI-ML/LLaDA-1.5", "LLaDA-1.5", "llada", 8.02e9, _LLADA_HW, chat=True),
    KnownModel("Dream-org/Dream-v0-Instruct-7B", "Dream-7B Instruct", "dream", 7.62e9, _DREAM_HW, chat=True),
    KnownModel("Dream-org/Dream-v0-Base-7B", "Dream-7B Base", "dream", 7.62e9, _DREAM_HW),
)}


def known_models_markdown() -> str:
    """The table of paper models for the README (weights at the default CUDA dtype)."""
    rows = ["| model | hub id | parameters | weights | hardware | transformers |", "|---|---|---|---|---|---|"]
    for m in KNOWN_MODELS.values():
        dtype = default_dtype(m.family, torch.device("cuda"))
        gb = m.weight_bytes(dtype) / 1e9
        rows.append(f"| {m.label} | `{m.hub_id}` | {m.params / 1e9:.2f} B | {gb:.1f} GB ({_dtype_name(dtype)}) "
                    f"| {m.hardware} | `{m.transformers}` |")
    return "\n".join(rows)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def default_dtype(family: str, device: torch.device) -> torch.dtype:
    return torch.bfloat16 if device.type == "cuda" and family in HALF_PRECISION_FAMILIES else torch.float32


def resolve_dtype(dtype: torch.dtype | str | None, family: str, device: torch.device) -> torch.dtype:
    """`None` -> the family's default; `"bfloat16"` -> `torch.bfloat16`."""
    if dtype is None:
        return default_dtype(family, device)
    resolved = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ValueError(f"dtype must be a floating torch dtype or its name, got {dtype!r}")
    return resolved


def installed_transformers() -> str:
    return importlib.metadata.version("transformers")


def available_memory_bytes(device: torch.device) -> int:
    """Free memory on a CUDA device, or available RAM (total RAM without psutil) on CPU."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        import psutil
    except ImportError:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return psutil.virtual_memory().available


def _importable(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except ValueError:  # in sys.modules as None: deliberately blocked
        return False


def check_known_model(model: KnownModel, device: torch.device, dtype: torch.dtype,
                      allow_untested_transformers: bool = False) -> None:
    """Raise ModelLoadError listing every unmet need (memory, transformers, packages) before any download."""
    from packaging.specifiers import SpecifierSet

    reasons, todos = [], []
    need, free = model.weight_bytes(dtype), available_memory_bytes(device)
    if need > free:
        reasons.append(f"its {_dtype_name(dtype)} weights need {need / 1e9:.1f} GB but {device} has "
                       f"{free / 1e9:.1f} GB of memory free")
        todos.append(f"Use a device with more memory ({model.hardware})"
                     + (" or dtype='bfloat16'." if dtype == torch.float32 else "."))
    version = installed_transformers()
    if not allow_untested_transformers and version not in SpecifierSet(model.transformers):
        reasons.append(f"its remote code needs transformers{model.transformers}, installed is {version}")
        todos.append(f"Run it in a separate environment with pip install 'transformers{model.transformers}' "
                     "(or pass allow_untested_transformers=True to try anyway).")
    missing = [p for p in model.packages if not _importable(p)]
    if missing:
        reasons.append(f"its model file imports {', '.join(missing)}, not installed")
        todos.append(f"pip install {' '.join(p.replace('_', '-') for p in missing)}"
                     + (" (flash-attn builds only on a CUDA machine)." if "flash_attn" in missing else "."))
    if reasons:
        raise ModelLoadError(model.hub_id, "; ".join(reasons), " ".join(todos))


def hub_offline() -> bool:
    """Whether the environment forbids hub access (read now, not at import)."""
    from huggingface_hub import constants

    env = (os.environ.get(k, "").upper() for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return constants.HF_HUB_OFFLINE or any(v in _TRUE for v in env)


def check_reachable(source: str, local_files_only: bool | None) -> bool:
    """The `local_files_only` flag to load `source` with; raises ModelLoadError when it cannot be had.

    A local folder loads as it is. A hub id must be in the cache when the hub is off (HF_HUB_OFFLINE=1
    or `local_files_only=True`); otherwise transformers downloads it.
    """
    offline = hub_offline() if local_files_only is None else local_files_only
    if Path(source).is_dir():
        return offline
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        cached = isinstance(try_to_load_from_cache(source, "config.json"), str)
    except HFValidationError as err:
        raise ModelLoadError(source, "is neither a local folder nor a valid hub id",
                             "Pass an existing folder or an id like 'owner/name'.") from err
    if offline and not cached:
        raise ModelLoadError(source, "is not in the local cache and the hub is offline "
                             "(HF_HUB_OFFLINE=1 or local_files_only=True)",
                             "Run once with a network to cache it, or pass a local folder.")
    return offline


def read_config(source: str, offline: bool) -> dict:
    """The model's config.json as a dict, without running any remote code."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
    from transformers import PretrainedConfig

    try:
        return PretrainedConfig.get_config_dict(source, local_files_only=offline)[0]
    except OSError as err:
        if Path(source).is_dir():
            raise ModelLoadError(source, "has no readable config.json",
                                 "Pass a folder written by save_pretrained.") from err
        if _caused_by(err, (RepositoryNotFoundError, GatedRepoError)):
            raise ModelLoadError(source, "was not found on the hub (or is gated)",
                                 "Check the id, or log in with `hf auth login` for a gated model.") from err
        raise ModelLoadError(source, f"is not in the local cache and the hub is unreachable ({err})",
                             "Run once with a network, or pass a local folder.") from err


def _caused_by(err: BaseException, kinds: tuple[type, ...]) -> bool:
    while err is not None:
        if isinstance(err, kinds):
            return True
        err = err.__cause__ or err.__context__
    return False
