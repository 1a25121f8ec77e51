"""Load a hub model (or a local folder in the same layout) as a Denoiser, without remote code.

    from sampler.models.hub import load_hub_model
    model = load_hub_model("GSAI-ML/LLaDA-8B-Instruct", device="cuda")

The family comes from `config.json` (`model_type`, else `architectures`): LLaDA, Dream, MDLM and BD3-LM
run on the project's own forward passes (`llada.py`, `dream.py`, `mdlm.py`) from the checkpoint's
safetensors; any `*ForMaskedLM` architecture loads through `AutoModelForMaskedLM`; anything else is
refused with the list of what is supported. Loading fails fast with `ModelLoadError` (model, reason,
what to do): a paper model too large for the device before any download, an id that is not cached
while the hub is off, a checkpoint whose keys or shapes do not match its config (naming the key).
"""
import torch

from sampler.denoiser import Denoiser
from sampler.models.checkpoint import resolve_folder
from sampler.models.dream import DreamDenoiser
from sampler.models.hf_adapters import MaskedLMDenoiser
from sampler.models.hf_registry import (KNOWN_MODELS, ModelLoadError, check_memory, check_reachable,
                                        known_models_markdown, read_config, resolve_dtype)
from sampler.models.hub_denoiser import HubDenoiser
from sampler.models.llada import LLaDADenoiser
from sampler.models.mdlm import BD3LMDenoiser, MDLMDenoiser

__all__ = ["KNOWN_MODELS", "ModelLoadError", "detect_family", "known_models_markdown", "load_hub_model"]

NATIVE: dict[str, type[HubDenoiser]] = {cls.family: cls for cls in (LLaDADenoiser, DreamDenoiser, MDLMDenoiser,
                                                                     BD3LMDenoiser)}
ARCHITECTURES = {"LLaDAModelLM": "llada", "DreamModel": "dream", "MDLM": "mdlm", "BD3LM": "bd3lm"}
SUPPORTED = ("model_type 'llada' (LLaDA), 'Dream' (Dream), 'mdlm' (MDLM), 'bd3lm' (BD3-LM), "
             "or an architecture ending in 'ForMaskedLM' (BERT, RoBERTa, ModernBERT)")


def detect_family(source: str, config: dict) -> str:
    """`"llada"`, `"dream"`, `"mdlm"`, `"bd3lm"` or `"masked_lm"`, from config.json; else ModelLoadError."""
    model_type = str(config.get("model_type", ""))
    if model_type.lower() in NATIVE:
        return model_type.lower()
    architectures = config.get("architectures") or []
    for arch in architectures:
        if arch in ARCHITECTURES:
            return ARCHITECTURES[arch]
        if arch.endswith("ForMaskedLM"):
            return "masked_lm"
    raise ModelLoadError(source, f"config.json has model_type {model_type!r} and architectures {architectures}, "
                         "which this loader does not know", f"Supported: {SUPPORTED}.")


def load_hub_model(model_id: str, device: str | torch.device = "cpu", dtype: torch.dtype | str | None = None,
                   local_files_only: bool | None = None, *, tokenizer: str | None = None,
                   chat: bool | None = None) -> Denoiser:
    """A Denoiser for a hub id or a local folder.

    Args:
        model_id: hub id (e.g. "kuleshov-group/mdlm-owt") or a folder in the hub layout.
        device: where the model runs.
        dtype: weights' dtype or its name; None: bfloat16 for LLaDA/Dream on CUDA, else float32.
        local_files_only: None follows HF_HUB_OFFLINE; True never touches the network.
        tokenizer: another tokenizer id or folder (MDLM/BD3-LM default to "gpt2" when the checkpoint has none).
        chat: the default of `encode(text, chat=None)`: wrap prompts in the chat template (LLaDA/Dream);
            None: on for the Instruct models of the paper, off otherwise.
    """
    device = torch.device(device)
    known = KNOWN_MODELS.get(model_id)
    if known is not None:
        check_memory(known, device, resolve_dtype(dtype, known.family, device))
    offline = check_reachable(model_id, local_files_only)
    config = read_config(model_id, offline)
    family = detect_family(model_id, config)
    dtype = resolve_dtype(dtype, family, device)
    chat = (known is not None and known.chat) if chat is None else chat
    if family == "masked_lm":
        if chat:
            raise ModelLoadError(model_id, "masked_lm prompts take no chat template", "Pass chat=False.")
        return MaskedLMDenoiser.load(model_id, device, dtype, offline, tokenizer)
    return NATIVE[family].load(model_id, resolve_folder(model_id, offline), config, device, dtype, offline,
                               tokenizer, chat)
