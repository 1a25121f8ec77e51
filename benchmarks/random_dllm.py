"""A randomly initialised ~1 B-parameter masked diffusion transformer with LLaDA's shape conventions.

Stands in for an 8 B dLLM in speed benchmarks: vocabulary 126,464 and MASK id 126,336 as LLaDA,
width 2048, 16 layers (~1.06 B parameters). Its outputs are meaningless; its cost is realistic.
"""
import zlib

import torch

from sampler.config import resolve_dtype
from sampler.denoiser import Denoiser
from sampler.kv_cache import BlockCache
from sampler.models.austen_net import AustenNet, NetConfig

LLADA_VOCAB, LLADA_MASK_ID = 126_464, 126_336


class RandomDLLM(Denoiser):
    name = "random-llada-like-1b"
    mask_id = LLADA_MASK_ID
    vocab_size = LLADA_VOCAB
    max_length = 4096

    def __init__(self, device: str = "cpu", dtype: str = "auto", d_model: int = 2048, n_layers: int = 16):
        torch.manual_seed(0)
        cfg = NetConfig(vocab_size=LLADA_VOCAB, d_model=d_model, n_layers=n_layers, n_heads=d_model // 128,
                        d_ff=4 * d_model, max_length=self.max_length)
        self.device = torch.device(device)
        with torch.device(self.device):
            self.net = AustenNet(cfg).to(resolve_dtype(dtype, self.device)).eval()

    @torch.inference_mode()
    def logits(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.net.logits(x, attention_mask)

    @torch.inference_mode()
    def features_at(self, x: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor,
                    cache: BlockCache | None = None) -> torch.Tensor:
        return self.net(x, attention_mask, positions, cache)

    def block_cache(self, block: slice, mode: str) -> BlockCache:
        return BlockCache(mode, block)

    @torch.inference_mode()
    def logits_at(self, x: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor) -> torch.Tensor:
        return self.output_layer(self.features_at(x, attention_mask, positions))

    @torch.inference_mode()
    def output_layer(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.head(features)

    def encode(self, text: str, chat: bool | None = None) -> list[int]:
        self.check_chat(chat)
        return [zlib.crc32(w.encode()) % 100_000 for w in text.split()]  # content is irrelevant here

    def decode(self, ids: list[int]) -> str:
        return " ".join(f"<{i}>" for i in ids)
