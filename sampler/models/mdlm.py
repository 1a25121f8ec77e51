"""MDLM (kuleshov-group/mdlm-owt, mdlm-noeos-owt) and BD3-LM (kuleshov-group/bd3lm-owt-block_size{4,8,16}).

Both are the DiT of `dit.py` over GPT-2 tokens plus one mask column (mask id = vocab_size - 1 = 50257),
with weights under `backbone.*`; the checkpoints also carry `backbone.rotary_emb.inv_freq` (recomputed
here) and BD3-LM two `sampling_eps_{min,max}` scalars (training only), which are skipped.

config.json fields read: vocab_size, hidden_dim, cond_dim, n_blocks, n_heads, model_length; BD3-LM
also block_size (the sampler's `required_block_length`); `adaln` must be true and `causal` false.

The logits follow MDLM's SUBS parameterisation, applied here rather than in the network: the mask
column is -inf and a position that already holds a token predicts that token with certainty. The
checkpoints take no attention mask, so a batch must not hold padding. BD3-LM attends block-causally
over blocks counted from position 0; its prompts are left-filled with <|endoftext|> to a whole number of
blocks, so the sampler's blocks (a multiple of `block_size`) line up with the network's, and a step runs
the network on the visible prefix plus the current block only.
"""
import math

import torch

from sampler.denoiser import Denoiser
from sampler.models.checkpoint import require
from sampler.models.dit import DiT
from sampler.models.hf_registry import ModelLoadError
from sampler.models.hub_denoiser import HubDenoiser


def dit_from_config(cfg: dict, source: str, block_size: int | None = None) -> DiT:
    require(cfg, source, "adaln", (True,), True)
    require(cfg, source, "causal", (False,), False)
    return DiT(cfg["vocab_size"], cfg["hidden_dim"], cfg["cond_dim"], cfg["n_blocks"], cfg["n_heads"], block_size)


def subs(logits: torch.Tensor, tokens: torch.Tensor, mask_id: int) -> torch.Tensor:
    """SUBS on `logits [B, m, V]` at positions holding `tokens [B, m]`: no MASK; committed tokens stay."""
    logits = logits.clone()
    logits[..., mask_id] = -torch.inf
    committed = tokens != mask_id
    keep = torch.full_like(logits, -torch.inf).scatter_(-1, tokens[..., None], 0.0)
    return torch.where(committed[..., None], keep, logits)


class MDLMDenoiser(HubDenoiser):
    """MDLM: bidirectional DiT at t = 0, SUBS logits, prompts start with GPT-2's <|endoftext|>."""

    family = "mdlm"
    max_length_key = "model_length"
    bos_prefix = True
    default_tokenizer = "gpt2"
    ignored_keys = (r"backbone\.rotary_emb\.inv_freq", r"sampling_eps_(min|max)")

    @staticmethod
    def hub_key(name: str) -> str:
        return "backbone." + name

    @staticmethod
    def build_net(cfg: dict, source: str) -> DiT:
        return dit_from_config(cfg, source)

    def _resolve_mask_id(self, cfg: dict) -> int:
        mask_id = self.vocab_size - 1  # the column after the tokenizer's ids
        if self.tokenizer.mask_token_id not in (None, mask_id) or len(self.tokenizer) > mask_id:
            raise ModelLoadError(self.name, f"its tokenizer has {len(self.tokenizer)} ids, but the mask id is the "
                                 f"last of {self.vocab_size} logit columns",
                                 "Load it with the tokenizer it was trained with (tokenizer=...).")
        return mask_id

    def _hidden(self, x: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor,
                cache=None) -> torch.Tensor:
        if attention_mask is not None and not bool(attention_mask.all()):
            raise ValueError(f"{self.name} takes no attention mask: batch prompts of equal length")
        return self.net.hidden(x, cache=cache)

    def _finish(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return subs(logits, tokens, self.mask_id)

    # SUBS needs the tokens at the positions read, so the logits themselves are the step's features
    features_at, output_layer = HubDenoiser.logits_at, Denoiser.output_layer


class BD3LMDenoiser(MDLMDenoiser):
    """BD3-LM: MDLM with block-causal attention over blocks of the checkpoint's `block_size`."""

    family = "bd3lm"

    def __init__(self, name, net, tokenizer, device, cfg: dict, chat_default: bool):
        super().__init__(name, net, tokenizer, device, cfg, chat_default)
        self.required_block_length = int(cfg["block_size"])

    @staticmethod
    def build_net(cfg: dict, source: str) -> DiT:
        return dit_from_config(cfg, source, int(cfg["block_size"]))

    def encode(self, text: str, chat: bool | None = None) -> list[int]:
        """As MDLM, with more leading <|endoftext|> until the length is a multiple of `block_size`: the
        generated blocks then coincide with the network's blocks, each seeing only finished blocks before it."""
        ids = super().encode(text, chat)
        return [self.tokenizer.bos_token_id] * (-len(ids) % self.required_block_length) + ids

    def _hidden(self, x: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor,
                cache=None) -> torch.Tensor:
        """Only the blocks up to the one holding the largest of `positions`, or `cache.block`'s last position
        (known on the host: no synchronisation): later blocks are invisible to them (so its prefix cache, and its
        dual cache, which has no suffix to hold, are exact)."""
        needed = cache.block.stop if cache is not None else int(positions.max()) + 1
        end = min(x.shape[1], math.ceil(needed / self.required_block_length) * self.required_block_length)
        return super()._hidden(x[:, :end], None if attention_mask is None else attention_mask[:, :end], positions,
                               cache)
