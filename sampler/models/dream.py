"""Dream (Dream-org/Dream-v0-Instruct-7B, -Base-7B) on transformers' Qwen2 layers, bidirectional.

Dream is Qwen2.5-7B (q/k/v biases, grouped KV heads, RMSNorm, SwiGLU, rotary positions, untied
`lm_head`) trained as a masked diffusion LM with attention over the whole sequence. Its checkpoint keys
are Qwen2's: `model.embed_tokens.weight`, `model.layers.{i}.{input_layernorm, post_attention_layernorm}.weight`,
`model.layers.{i}.self_attn.{q,k,v}_proj.{weight,bias}`, `model.layers.{i}.self_attn.o_proj.weight`,
`model.layers.{i}.mlp.{gate,up,down}_proj.weight`, `model.norm.weight`, `lm_head.weight`.

config.json fields read: hidden_size, intermediate_size, num_attention_heads, num_key_value_heads,
num_hidden_layers, vocab_size, max_position_embeddings, rope_theta, rms_norm_eps, mask_token_id,
eos_token_id; hidden_act, tie_word_embeddings, use_sliding_window and rope_scaling must have the
published values. The prediction for position i is read from output i - 1 (logits shift right by one);
with left padding, positions count real tokens only and padded keys are hidden. Mask id 151666.
"""
import torch

from sampler.models.bidirectional import BidirectionalDecoder
from sampler.models.checkpoint import require
from sampler.models.hub_denoiser import HubDenoiser

MASK_ID = 151666


def hub_key(name: str) -> str:
    return name if name.startswith("lm_head.") else "model." + name


def qwen2_config(cfg: dict, source: str):
    """transformers' Qwen2Config equivalent to Dream's config.json (refuses unpublished variants)."""
    from transformers import Qwen2Config

    require(cfg, source, "hidden_act", ("silu",), "silu")
    require(cfg, source, "tie_word_embeddings", (False,), False)
    require(cfg, source, "use_sliding_window", (False,), False)
    require(cfg, source, "rope_scaling", (None,), None)
    return Qwen2Config(hidden_size=cfg["hidden_size"], intermediate_size=cfg["intermediate_size"],
                       num_attention_heads=cfg["num_attention_heads"],
                       num_key_value_heads=cfg.get("num_key_value_heads") or cfg["num_attention_heads"],
                       num_hidden_layers=cfg["num_hidden_layers"], vocab_size=cfg["vocab_size"],
                       max_position_embeddings=cfg["max_position_embeddings"],
                       rope_parameters={"rope_type": "default", "rope_theta": float(cfg["rope_theta"])},
                       rms_norm_eps=cfg["rms_norm_eps"], hidden_act="silu", use_sliding_window=False)


class DreamDenoiser(HubDenoiser):
    """Dream: logits shifted right by one; positions skip left padding."""

    family = "dream"
    logit_shift = 1
    max_length_key = "max_position_embeddings"
    default_mask_id = MASK_ID
    tokenizer_fallback = "Qwen2Tokenizer"
    ignored_keys = (r"model\.(layers\.\d+\.self_attn\.)?rotary_emb\.inv_freq",)  # recomputed, if a file has them
    hub_key = staticmethod(hub_key)

    @staticmethod
    def build_net(cfg: dict, source: str) -> BidirectionalDecoder:
        from transformers.models.qwen2.modeling_qwen2 import Qwen2DecoderLayer, Qwen2RMSNorm, Qwen2RotaryEmbedding

        config = qwen2_config(cfg, source)
        return BidirectionalDecoder(config, Qwen2DecoderLayer, Qwen2RMSNorm, Qwen2RotaryEmbedding, config.vocab_size)

    def _hidden(self, x: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor,
                cache=None) -> torch.Tensor:
        position_ids = None if attention_mask is None else (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        return self.net.hidden(x, attention_mask, position_ids, cache)
