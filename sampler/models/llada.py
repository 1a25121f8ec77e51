"""LLaDA (GSAI-ML/LLaDA-8B-Instruct, -Base, LLaDA-1.5) on transformers' Llama layers, bidirectional.

LLaDA is a LLaMA (RMSNorm, SwiGLU, rotary positions with the rotate-half layout, no biases, untied
output layer) whose attention sees the whole sequence, published with OLMo-style names:

| checkpoint key (`model.transformer.` + ...) | here (`BidirectionalDecoder`) |
|---|---|
| `wte.weight` [V, D] | `embed_tokens.weight` |
| `blocks.{i}.attn_norm.weight` [D] | `layers.{i}.input_layernorm.weight` |
| `blocks.{i}.{q,k,v}_proj.weight` | `layers.{i}.self_attn.{q,k,v}_proj.weight` |
| `blocks.{i}.attn_out.weight` [D, D] | `layers.{i}.self_attn.o_proj.weight` |
| `blocks.{i}.ff_norm.weight` [D] | `layers.{i}.post_attention_layernorm.weight` |
| `blocks.{i}.ff_proj.weight` [F, D] (the SiLU-gated branch) | `layers.{i}.mlp.gate_proj.weight` |
| `blocks.{i}.up_proj.weight` [F, D] | `layers.{i}.mlp.up_proj.weight` |
| `blocks.{i}.ff_out.weight` [D, F] | `layers.{i}.mlp.down_proj.weight` |
| `ln_f.weight` [D] | `norm.weight` |
| `ff_out.weight` [V, D] | `lm_head.weight` |

config.json fields read: d_model, n_heads, n_kv_heads, n_layers, mlp_hidden_size (else mlp_ratio·d_model),
embedding_size (else vocab_size), max_sequence_length, rope_theta, rms_norm_eps, mask_token_id,
eos_token_id; block_type, activation_type, layer_norm_type, rope, alibi, include_bias, include_qkv_bias,
weight_tying, scale_logits, input_emb_norm, attention_layer_norm and block_group_size must have the
published values. Positions are absolute (left padding counts); padded keys are hidden. Logits are not
shifted; the mask id is 126336. RMSNorm runs in float32 as LLaDA's does; the rotary cos/sin are computed
in float32 but applied in the weights' dtype (LLaDA applies them in float32), so bf16 runs differ from
the reference code by rounding only.
"""
import re

from sampler.models.bidirectional import BidirectionalDecoder
from sampler.models.checkpoint import require
from sampler.models.hub_denoiser import HubDenoiser

MASK_ID = 126336
_PUBLISHED = {"block_type": "llama", "activation_type": "silu", "layer_norm_type": "rms", "rope": True, "alibi": False,
              "include_bias": False, "include_qkv_bias": False, "weight_tying": False, "scale_logits": False,
              "input_emb_norm": False, "attention_layer_norm": False, "block_group_size": 1}
_RENAMES = [  # ours -> checkpoint
    (r"embed_tokens\.", "wte."), (r"norm\.", "ln_f."), (r"lm_head\.", "ff_out."),
    (r"layers\.(\d+)\.input_layernorm\.", r"blocks.\1.attn_norm."),
    (r"layers\.(\d+)\.self_attn\.o_proj\.", r"blocks.\1.attn_out."),
    (r"layers\.(\d+)\.self_attn\.", r"blocks.\1."),
    (r"layers\.(\d+)\.post_attention_layernorm\.", r"blocks.\1.ff_norm."),
    (r"layers\.(\d+)\.mlp\.gate_proj\.", r"blocks.\1.ff_proj."),
    (r"layers\.(\d+)\.mlp\.up_proj\.", r"blocks.\1.up_proj."),
    (r"layers\.(\d+)\.mlp\.down_proj\.", r"blocks.\1.ff_out."),
]


def hub_key(name: str) -> str:
    """The checkpoint key of one of `BidirectionalDecoder`'s parameters."""
    for ours, theirs in _RENAMES:
        if re.match(ours, name):
            return "model.transformer." + re.sub("^" + ours, theirs, name)
    raise KeyError(name)


def llama_config(cfg: dict, source: str):
    """transformers' LlamaConfig equivalent to LLaDA's config.json (refuses unpublished variants)."""
    from transformers import LlamaConfig

    for field, value in _PUBLISHED.items():
        require(cfg, source, field, (value,), value)
    heads = cfg["n_heads"]
    return LlamaConfig(hidden_size=cfg["d_model"], num_attention_heads=heads,
                       num_key_value_heads=cfg.get("n_kv_heads") or heads, num_hidden_layers=cfg["n_layers"],
                       intermediate_size=cfg.get("mlp_hidden_size") or cfg["mlp_ratio"] * cfg["d_model"],
                       vocab_size=cfg.get("embedding_size") or cfg["vocab_size"],
                       max_position_embeddings=cfg["max_sequence_length"],
                       rope_parameters={"rope_type": "default", "rope_theta": float(cfg["rope_theta"])},
                       rms_norm_eps=cfg["rms_norm_eps"], hidden_act="silu", attention_bias=False, mlp_bias=False)


class LLaDADenoiser(HubDenoiser):
    """LLaDA: no logit shift, absolute positions, padded keys hidden."""

    family = "llada"
    max_length_key = "max_sequence_length"
    default_mask_id = MASK_ID
    hub_key = staticmethod(hub_key)

    @staticmethod
    def build_net(cfg: dict, source: str) -> BidirectionalDecoder:
        from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRMSNorm, LlamaRotaryEmbedding

        config = llama_config(cfg, source)
        return BidirectionalDecoder(config, LlamaDecoderLayer, LlamaRMSNorm, LlamaRotaryEmbedding, config.vocab_size)
