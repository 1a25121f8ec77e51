"""What the hub loader knows before loading anything: the paper's models, their needs, and the checks.

Nothing here imports `transformers` at module level; every check runs before a byte of weights is read.
The paper's four families run on the pinned transformers natively (`llada.py`, `dream.py`, `mdlm.py`):
no repository code is executed, so no transformers range or extra package is needed.
"""
import os
from dataclasses import dataclass
from pathlib import Path

import torch

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
    chat: bool = False  # an Instruct model: the chat template is on by default

    def weight_bytes(self, dtype: torch.dtype) -> int:
        return int(self.params * dtype.itemsize)


_DIT_HW = "CPU works, slowly (seconds per step at N = 4, 256 tokens); any GPU for real runs. Space: ZeroGPU or T4"
_GPU_HW = ("GPU with >= 24 GB in bf16 (Space: L4, A10G large, A100 or ZeroGPU); "
           "CPU: about {} GB of RAM in float32, very slow")
_LLADA_HW, _DREAM_HW = _GPU_HW.format(32), _GPU_HW.format(31)
KNOWN_MODELS = {m.hub_id: m for m in (
    KnownModel("kuleshov-group/mdlm-owt", "MDLM (OWT)", "mdlm", 169.6e6, _DIT_HW),
    KnownModel("kuleshov-group/mdlm-noeos-owt", "MDLM (OWT, no EOS)", "mdlm", 169.6e6, _DIT_HW),
    *(KnownModel(f"kuleshov-group/bd3lm-owt-block_size{b}", f"BD3-LM L'={b}", "bd3lm", 169.6e6, _DIT_HW)
      for b in (4, 8, 16)),
    KnownModel("GSAI-ML/LLaDA-8B-Instruct", "LLaDA-8B-Instruct", "llada", 8.02e9, _LLADA_HW, chat=True),
    KnownModel("GSAI-ML/LLaDA-8B-Base", "LLaDA-8B-Base", "llada", 8.02e9, _LLADA_HW),
    KnownModel("GSAI-ML/LLaDA-1.5", "LLaDA-1.5", "llada", 8.02e9, _LLADA_HW, chat=True),
    KnownModel("Dream-org/Dream-v0-Instruct-7B", "Dream-7B Instruct", "dream", 7.62e9, _DREAM_HW, chat=True),
    KnownModel("Dream-org/Dream-v0-Base-7B", "Dream-7B Base", "dream", 7.62e9, _DREAM_HW),
)}


def known_models_markdown() -> str:
    """The table of paper models for the README."""
    rows = ["| model | hub id | parameters | weights in bf16 | hardware | chat template | transformers |",
            "|---|---|---|---|---|---|---|"]
    for m in KNOWN_MODELS.values():
        gb = m.weight_bytes(torch.bfloat16) / 1e9
        chat = "on by default (switchable)" if m.chat else "off by default (switchable)" \
            if m.family in HALF_PRECISION_FAMILIES else "none"
        rows.append(f"| {m.label} | `{m.hub_id}` | {m.params / 1e9:.2f} B | {gb:.1f} GB | {m.hardware} | {chat} "
                    "| runs on 5.24 natively |")
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


def available_memory_bytes(device: torch.device) -> int:
    """Free memory on a CUDA device, or available RAM (total RAM without psutil) on CPU."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        import psutil
    except ImportError:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return psutil.virtual_memory().available


def check_memory(model: KnownModel, device: torch.device, dtype: torch.dtype) -> None:
    """Raise ModelLoadError when the weights cannot fit the device, before any download."""
    need, free = model.weight_bytes(dtype), available_memory_bytes(device)
    if need > free:
        raise ModelLoadError(model.hub_id, f"its {_dtype_name(dtype)} weights need {need / 1e9:.1f} GB but {device} "
                             f"has {free / 1e9:.1f} GB of memory free",
                             f"Use a device with more memory ({model.hardware})"
                             + (" or dtype='bfloat16'." if dtype == torch.float32 else "."))


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
    """The model's config.json (a folder's, or downloaded alone from the hub) as a dict."""
    import json

    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        path = Path(source, "config.json") if Path(source).is_dir() else \
            Path(hf_hub_download(source, "config.json", local_files_only=offline))
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        if Path(source).is_dir():
            raise ModelLoadError(source, f"has no readable config.json ({err})",
                                 "Pass a folder in the hub layout (config.json + model.safetensors).") from err
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
