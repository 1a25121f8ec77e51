"""Load a hub model (or a local folder in the same layout) as a Denoiser.

    from sampler.models.hub import load_hub_model
    model = load_hub_model("GSAI-ML/LLaDA-8B-Instruct", device="cuda")

The family (and so the calling convention, see `hf_adapters`) comes from the known-model table, else
from `config.json`'s `model_type`; anything else is loaded as a plain `AutoModelForMaskedLM`.
Loading fails fast with `ModelLoadError` (model, reason, what to do): a paper model that does not fit
the device's memory, needs another `transformers` (table in `hf_registry`) or a missing package
is refused before any download; an id that is not cached while the hub is off or unreachable is
refused before loading. `trust_remote_code=True` is passed for the MDLM, BD3-LM, LLaDA and Dream
families: their released code runs.
"""
import torch

from sampler.denoiser import Denoiser
from sampler.models.hf_adapters import ADAPTERS
from sampler.models.hf_registry import (KNOWN_MODELS, ModelLoadError, check_known_model, check_reachable,
                                        known_models_markdown, read_config, resolve_dtype)

__all__ = ["KNOWN_MODELS", "ModelLoadError", "detect_family", "known_models_markdown", "load_hub_model"]


def detect_family(model_id: str, config: dict) -> str:
    """Family of a model: the known table first, then `config.json`'s `model_type`, else `"masked_lm"`."""
    if model_id in KNOWN_MODELS:
        return KNOWN_MODELS[model_id].family
    model_type = str(config.get("model_type", "")).lower()
    return model_type if model_type in ADAPTERS else "masked_lm"


def load_hub_model(model_id: str, device: str | torch.device = "cpu", dtype: torch.dtype | str | None = None,
                   local_files_only: bool | None = None, *, tokenizer: str | None = None, chat: bool | None = None,
                   allow_untested_transformers: bool = False, **from_pretrained_kw) -> Denoiser:
    """A Denoiser for a hub id or a local folder.

    Args:
        model_id: hub id (e.g. "kuleshov-group/mdlm-owt") or a folder written by `save_pretrained`.
        device: where the model runs.
        dtype: weights' dtype or its name; None: bfloat16 for LLaDA/Dream on CUDA, else float32.
        local_files_only: None follows HF_HUB_OFFLINE; True never touches the network.
        tokenizer: another tokenizer id or folder (MDLM/BD3-LM default to "gpt2" when the checkpoint has none).
        chat: wrap prompts in the chat template (LLaDA/Dream); None: True for the Instruct models.
        allow_untested_transformers: try a paper model outside its known transformers range.
        **from_pretrained_kw: passed to `from_pretrained` (e.g. revision, cache_dir).
    """
    device = torch.device(device)
    known = KNOWN_MODELS.get(model_id)
    if known is not None:
        check_known_model(known, device, resolve_dtype(dtype, known.family, device), allow_untested_transformers)
    offline = check_reachable(model_id, local_files_only)
    family = detect_family(model_id, read_config(model_id, offline))
    chat = (known is not None and known.chat) if chat is None else chat
    return ADAPTERS[family].load(model_id, device, resolve_dtype(dtype, family, device), offline,
                                 tokenizer, chat, **from_pretrained_kw)
