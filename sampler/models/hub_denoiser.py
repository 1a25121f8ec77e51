"""What the native hub families share: a network from a checkpoint folder, its tokenizer, prompt encoding.

A family module (llada.py, dream.py, mdlm.py) builds its network and subclasses `HubDenoiser`, which
turns the network's hidden states into logits at the positions a step reads, bans the ids that are
never drawn (MASK and embedding rows past the tokenizer) and encodes prompts, with the chat template
when asked.
"""
from pathlib import Path

import torch
from torch import nn

from sampler.denoiser import Denoiser
from sampler.kv_cache import BlockCache
from sampler.models.checkpoint import load_weights
from sampler.models.hf_registry import ModelLoadError, check_reachable


def load_tokenizer(source: str, offline: bool, fallback_class: str | None = None):
    """The tokenizer in `source` (folder or hub id) without remote code.

    A tokenizer_config.json that maps AutoTokenizer to remote code (Dream's `DreamTokenizer`) is read by
    transformers' own classes instead: the fast tokenizer from its tokenizer.json if the folder has one,
    else `fallback_class` (e.g. Qwen2Tokenizer from vocab.json and merges.txt).
    """
    import transformers

    try:  # an empty config: the checkpoint's own config.json is not a transformers one
        return transformers.AutoTokenizer.from_pretrained(source, config=transformers.PretrainedConfig(),
                                                          trust_remote_code=False, local_files_only=offline)
    except (ValueError, OSError) as err:
        native = "PreTrainedTokenizerFast" if Path(source, "tokenizer.json").is_file() else fallback_class
        if native is None:
            raise ModelLoadError(source, f"its tokenizer could not be loaded ({err})",
                                 "Pass tokenizer=<a folder or hub id with the tokenizer>.") from err
        return getattr(transformers, native).from_pretrained(source, local_files_only=offline)


class HubDenoiser(Denoiser):
    """A checkpoint's network `net` (with `hidden`, `head` and `vocab_size`) and its tokenizer.

    A family sets `family`, `build_net(cfg, source)`, `hub_key(name)` (our parameter name -> checkpoint
    key) and `max_length_key`, and may override `_hidden` (masks, positions, truncation; passing `cache` on to
    the network, whose `hidden(..., cache=)` then computes `cache.queries` only), `_finish`
    (e.g. MDLM's SUBS) and `_resolve_mask_id`; `logit_shift = 1` reads the prediction for position i
    from output i - 1.
    """

    family = ""
    logit_shift = 0
    bos_prefix = False  # prepend the tokenizer's BOS to prompts (MDLM/BD3-LM)
    max_length_key = ""
    default_mask_id: int | None = None
    ignored_keys: tuple[str, ...] = ()  # checkpoint keys (regexes) that carry nothing the network needs
    default_tokenizer: str | None = None  # where the tokenizer lives when the checkpoint ships none
    tokenizer_fallback: str | None = None  # transformers class for a tokenizer_config naming a remote class

    @staticmethod
    def build_net(cfg: dict, source: str) -> nn.Module:
        raise NotImplementedError

    @staticmethod
    def hub_key(name: str) -> str:
        raise NotImplementedError

    @classmethod
    def load(cls, source: str, folder: Path, cfg: dict, device: torch.device, dtype: torch.dtype, offline: bool,
             tokenizer: str | None = None, chat: bool = False) -> "HubDenoiser":
        """Build the network from `cfg`, fill it from `folder`, and load the tokenizer."""
        net = cls.build_net(cfg, source)
        load_weights(net, folder, cls.hub_key, dtype, cls.ignored_keys, device)
        home = tokenizer_home(folder, tokenizer, cls.default_tokenizer)
        tok = load_tokenizer(home, check_reachable(home, offline), cls.tokenizer_fallback)
        return cls(source, net.to(device).eval(), tok, device, cfg, chat)

    def __init__(self, name: str, net: nn.Module, tokenizer, device: torch.device, cfg: dict, chat_default: bool):
        if chat_default and not tokenizer.chat_template:
            raise ModelLoadError(name, "chat=True but its tokenizer has no chat template", "Pass chat=False.")
        self.name, self.net, self.tokenizer, self.device = name, net, tokenizer, device
        self.vocab_size = net.vocab_size
        self.mask_id = self._resolve_mask_id(cfg)
        self.max_length = int(cfg[self.max_length_key])
        self.eos_id = cfg.get("eos_token_id", tokenizer.eos_token_id)
        self.pad_id = tokenizer.pad_token_id
        self.chat_default = chat_default
        never = torch.zeros(self.vocab_size, dtype=torch.bool)
        never[len(tokenizer):] = True  # embedding rows past the tokenizer
        never[self.mask_id] = True
        self._never = never.to(device)

    def _resolve_mask_id(self, cfg: dict) -> int:
        for mask_id in (cfg.get("mask_token_id"), self.tokenizer.mask_token_id, self.default_mask_id):
            if mask_id is not None:
                return int(mask_id)
        raise ModelLoadError(self.name, "neither config.json nor the tokenizer names a mask token",
                             "Use a masked diffusion checkpoint.")

    @property
    def has_chat_template(self) -> bool:
        return bool(self.tokenizer.chat_template)

    def _hidden(self, x: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor,
                cache: BlockCache | None = None) -> torch.Tensor:
        """Hidden states `[B, L', D]` of at least the positions up to the largest of `positions [B, m]` (no host
        read of them here); with `cache`, of `cache.queries`."""
        return self.net.hidden(x, attention_mask, cache=cache)

    def _finish(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Last touches on `logits [B, m, V]` given the current `tokens [B, m]` at those positions."""
        return logits

    @torch.no_grad()
    def _features(self, x: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor,
                  cache: BlockCache | None = None) -> torch.Tensor:
        """Final hidden states `[B, m, D]` feeding the predictions at `positions [B, m]` (absolute indices)."""
        x, positions = x.to(self.device), positions.to(self.device)
        hidden = self._hidden(x, self._mask(attention_mask), positions, cache)
        first = 0 if cache is None else cache.queries.start  # hidden holds positions first, first + 1, ...
        source = (positions - self.logit_shift - first).clamp(min=0)
        return hidden.gather(1, source[..., None].expand(-1, -1, hidden.shape[-1]))

    def _mask(self, attention_mask: torch.Tensor | None) -> torch.Tensor | None:
        return None if attention_mask is None else attention_mask.to(self.device, torch.bool)

    def block_cache(self, block: slice, mode: str) -> BlockCache:
        return BlockCache(mode, block, self.logit_shift)

    @torch.no_grad()
    def _head(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.head(features).masked_fill(self._never, -torch.inf)

    features_at, output_layer = _features, _head  # the step runs the output layer in chunks of rows

    def logits_at(self, x: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor,
                  cache: BlockCache | None = None) -> torch.Tensor:
        """Logits `[B, m, V]` at `positions [B, m]`; the output layer runs only there."""
        logits = self._head(self._features(x, attention_mask, positions, cache))
        return self._finish(logits, x.to(self.device).gather(1, positions.to(self.device)))

    def logits(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.logits_at(x, attention_mask, torch.arange(x.shape[1]).expand(x.shape[0], -1))

    def encode(self, text: str, chat: bool | None = None) -> list[int]:
        """Prompt ids; `chat` (None: the model's default) wraps the text in the chat template first."""
        if self.chat_default if chat is None else chat:
            if not self.has_chat_template:
                self.check_chat(True)
            text = self.tokenizer.apply_chat_template([{"role": "user", "content": text}],
                                                      add_generation_prompt=True, tokenize=False)
        ids = self.tokenizer(text)["input_ids"]
        bos = self.tokenizer.bos_token_id
        return ([bos] if self.bos_prefix and bos is not None else []) + ids

    def decode(self, ids: list[int]) -> str:
        """Display text; special tokens and ids past the tokenizer (MDLM's mask column) are left out."""
        return self.tokenizer.decode([i for i in ids if i < len(self.tokenizer)], skip_special_tokens=True)

    def token_strings(self, ids: list[int]) -> list[str]:
        mask_text = self.tokenizer.mask_token or "[MASK]"
        return [mask_text if i == self.mask_id else self.tokenizer.decode([i]) for i in ids]


def tokenizer_home(folder: Path, tokenizer: str | None, default: str | None = None) -> str:
    """Where the tokenizer lives: `tokenizer` if given, the checkpoint if it ships one, else `default`."""
    if tokenizer is not None:
        return tokenizer
    if default is None or (folder / "tokenizer_config.json").is_file() or (folder / "tokenizer.json").is_file():
        return str(folder)
    return default
