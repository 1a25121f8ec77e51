"""Checkpoints in the Hugging Face hub layout, read without running any code from the repository.

A checkpoint folder holds `config.json` and its weights, either one `model.safetensors` or shards listed
by `model.safetensors.index.json`. A hub id resolves to the cached snapshot of those files (plus the
tokenizer's). `load_weights` checks every key and shape against what the network expects and refuses a
mismatch naming the key, then puts the tensors into the network without a second copy.
"""
import json
import re
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from sampler.models.hf_registry import ModelLoadError

SINGLE_FILE, INDEX_FILE = "model.safetensors", "model.safetensors.index.json"
SNAPSHOT_FILES = ["config.json", "*.safetensors", INDEX_FILE, "tokenizer*", "special_tokens_map.json",
                  "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja"]


def resolve_folder(source: str, offline: bool) -> Path:
    """A local folder as it is; a hub id -> its snapshot folder (downloaded unless `offline`)."""
    if Path(source).is_dir():
        return Path(source)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(source, allow_patterns=SNAPSHOT_FILES, local_files_only=offline))


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a checkpoint: the shards an index lists, else the single file."""
    index = folder / INDEX_FILE
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise ModelLoadError(str(folder), f"its index lists shards that are not there: {', '.join(missing)}",
                                 "Download the checkpoint again.")
        return [folder / s for s in shards]
    if (folder / SINGLE_FILE).is_file():
        return [folder / SINGLE_FILE]
    raise ModelLoadError(str(folder), f"has neither {SINGLE_FILE} nor {INDEX_FILE}",
                         "Pass a folder in the hub layout (config.json + safetensors weights).")


def load_weights(net: nn.Module, folder: Path, to_hub_key, dtype: torch.dtype, ignored: tuple[str, ...] = (),
                 device: torch.device = torch.device("cpu")) -> None:
    """Fill `net` (built on the meta device) from the checkpoint in `folder`, reading tensors straight onto `device`.

    `to_hub_key(name)` gives the checkpoint key of each of `net`'s parameters and persistent buffers;
    checkpoint keys matching a regex in `ignored` are allowed and skipped. Floating tensors become `dtype`.
    Raises ModelLoadError naming the first missing, unexpected or mis-shaped key.
    """
    expected = {to_hub_key(name): (name, tuple(t.shape)) for name, t in net.state_dict().items()}
    files = weight_files(folder)
    found: dict[str, tuple[Path, tuple[int, ...]]] = {}
    for path in files:
        with safe_open(path, framework="pt") as f:
            for key in f.keys():
                found[key] = (path, tuple(f.get_slice(key).get_shape()))
    name = str(folder)
    for key, (path, shape) in found.items():
        if key not in expected:
            if any(re.fullmatch(pattern, key) for pattern in ignored):
                continue
            raise ModelLoadError(name, f"checkpoint key {key!r} ({path.name}) is not part of this architecture",
                                 "Check that config.json matches the weights.")
        want = expected[key][1]
        if shape != want:
            raise ModelLoadError(name, f"checkpoint key {key!r} has shape {list(shape)}, the config implies "
                                 f"{list(want)}", "Check that config.json matches the weights.")
    missing = [key for key in expected if key not in found]
    if missing:
        raise ModelLoadError(name, f"checkpoint key {missing[0]!r} is missing"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                             "Check that config.json matches the weights.")
    state = {}
    for path in files:
        with safe_open(path, framework="pt", device=str(device)) as f:
            for key in f.keys():
                if key in expected:
                    t = f.get_tensor(key)
                    state[expected[key][0]] = t.to(dtype) if t.is_floating_point() else t
    net.load_state_dict(state, strict=True, assign=True)


def require(config: dict, source: str, field: str, allowed, default=None):
    """`config[field]` (or `default` when absent); refuse a value outside `allowed` naming the field."""
    value = config.get(field, default)
    if value not in allowed:
        raise ModelLoadError(source, f"config.json has {field} = {value!r}; this loader supports "
                             f"{' or '.join(repr(a) for a in allowed)}",
                             "Use a checkpoint of the published architecture.")
    return value
