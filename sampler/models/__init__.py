"""Model loading: the embedded Austen MDLM by default, hub models by id."""
from sampler.denoiser import Denoiser

DEFAULT_MODEL = "austen-mdlm"


def load_model(name: str = DEFAULT_MODEL, device: str = "cpu", dtype: str = "auto") -> Denoiser:
    """The embedded model for `"austen-mdlm"` (or a folder holding its files), else a hub id or local folder.

    `dtype="auto"`: bfloat16 where the hardware runs it fast (see `sampler.config.resolve_dtype`); hub models
    then take their registry's default.
    """
    from pathlib import Path

    from sampler.models.austen import ASSET_DIR, AustenDenoiser, is_austen_folder

    if name == DEFAULT_MODEL:
        return AustenDenoiser(ASSET_DIR, device, dtype)
    if is_austen_folder(Path(name)):
        return AustenDenoiser(Path(name), device, dtype)
    from sampler.models.hub import load_hub_model

    return load_hub_model(name, device=device, dtype=None if dtype == "auto" else dtype)
