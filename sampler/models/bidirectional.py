"""A decoder-only transformer from transformers' own layers, run with bidirectional attention.

LLaDA is a LLaMA and Dream a Qwen2 whose attention sees the whole sequence. `BidirectionalDecoder`
stacks transformers' `LlamaDecoderLayer` / `Qwen2DecoderLayer` (with their RMSNorm and rotary
embedding), switches off their causal flag and hands SDPA either no mask or a 4-D boolean one, so
no causal mask is ever built. Parameters are created on the meta device and filled from the
checkpoint (`checkpoint.load_weights`).
"""
import torch
from torch import nn

from sampler.kv_cache import BlockCache


class BidirectionalDecoder(nn.Module):
    """Embedding, decoder layers, final norm and output layer.

    `hidden(x [B, L], key_mask [B, L] bool | None, position_ids [B, L] | None) -> [B, L, D]`;
    `head(hidden [..., D]) -> logits [..., V]`.
    """

    def __init__(self, config, layer_cls: type, norm_cls: type, rotary_cls: type, vocab_size: int):
        super().__init__()
        self.vocab_size = vocab_size
        config._attn_implementation = "sdpa"
        with torch.device("meta"):
            self.embed_tokens = nn.Embedding(vocab_size, config.hidden_size)
            self.layers = nn.ModuleList(layer_cls(config, i) for i in range(config.num_hidden_layers))
            self.norm = norm_cls(config.hidden_size, eps=config.rms_norm_eps)
            self.lm_head = nn.Linear(config.hidden_size, vocab_size, bias=False)
        self.rotary_emb = rotary_cls(config)  # its inverse frequencies are computed, not loaded
        for layer in self.layers:
            layer.self_attn.is_causal = False

    def hidden(self, x: torch.Tensor, key_mask: torch.Tensor | None = None,
               position_ids: torch.Tensor | None = None, cache: BlockCache | None = None) -> torch.Tensor:
        """Final hidden states; every position attends to every real key (`key_mask`, True = real) and itself.
        With `cache` (`sampler.kv_cache`, handed to each layer as transformers' `cache=`): of `cache.queries`
        only, the other positions' keys/values read from the cache."""
        queries = slice(0, None) if cache is None else cache.queries
        h = self.embed_tokens(x[:, queries])
        if position_ids is None:
            position_ids = torch.arange(x.shape[1], device=x.device).expand(x.shape[0], -1)
        position_ids = position_ids[:, queries]
        attn_mask = None
        if key_mask is not None:
            itself = torch.eye(x.shape[1], dtype=torch.bool, device=x.device)[queries]
            attn_mask = key_mask[:, None, None, :] | itself  # [B, 1, Lq, L]; a padded query sees only itself
        rotary = self.rotary_emb(h, position_ids)
        for layer in self.layers:
            h = layer(h, attention_mask=attn_mask, position_embeddings=rotary, position_ids=position_ids, cache=cache)
        return self.norm(h)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm_head(hidden)
