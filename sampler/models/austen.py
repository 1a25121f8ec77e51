"""The embedded default model: our Austen MDLM, loaded from `assets/austen-mdlm/`."""
import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

from sampler.config import resolve_dtype
from sampler.denoiser import Denoiser
from sampler.kv_cache import BlockCache
from sampler.models import word_tokenizer
from sampler.models.austen_net import AustenNet, NetConfig

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "austen-mdlm"
NAME = "austen-mdlm"


def is_austen_folder(path: Path) -> bool:
    """Whether `path` holds weights written by `training/train_mdlm.py`."""
    try:
        return "train_window" in json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False


class AustenDenoiser(Denoiser):
    """Word-level masked diffusion LM trained on Jane Austen (see the model card in assets/)."""

    def __init__(self, path: Path = ASSET_DIR, device: str = "cpu", dtype: str = "auto"):
        path = Path(path)
        if not (path / "model.safetensors").exists():
            raise FileNotFoundError(f"{path / 'model.safetensors'} is missing: train it with "
                                    "`python -m training.train_mdlm` (see README)")
        cfg = json.loads((path / "config.json").read_text())
        self.net = AustenNet(NetConfig(**{k: cfg[k] for k in NetConfig().to_dict()}))
        self.net.load_state_dict({k: v.float() for k, v in load_file(path / "model.safetensors").items()})
        self.device = torch.device(device)
        self.net.to(self.device, resolve_dtype(dtype, self.device)).eval()
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.name = NAME
        self.vocab_size = self.net.cfg.vocab_size
        self.max_length = self.net.cfg.max_length
        self.mask_id = self.tokenizer.token_to_id("[MASK]")
        self.pad_id = self.tokenizer.token_to_id("[PAD]")
        self.unk_id = self.tokenizer.token_to_id("[UNK]")
        self.eos_id = None  # the training stream has no end-of-text: the model never predicts one
        self._never = [self.tokenizer.token_to_id(t) for t in word_tokenizer.SPECIAL_TOKENS]

    @torch.inference_mode()
    def logits(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.output_layer(self.net(x.to(self.device), attention_mask))

    @torch.inference_mode()
    def logits_at(self, x: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor) -> torch.Tensor:
        return self.output_layer(self.features_at(x, attention_mask, positions))

    @torch.inference_mode()
    def features_at(self, x: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor,
                    cache: BlockCache | None = None) -> torch.Tensor:
        """Last hidden states `[B, m, d]` at `positions [B, m]`; the last layer runs only there."""
        return self.net(x.to(self.device), attention_mask, positions.to(self.device), cache)

    def block_cache(self, block: slice, mode: str) -> BlockCache:
        return BlockCache(mode, block)

    @torch.inference_mode()
    def output_layer(self, features: torch.Tensor) -> torch.Tensor:
        out = self.net.head(features)
        out[..., self._never] = -torch.inf  # MASK, PAD, UNK and EOS are never drawn
        return out

    def encode(self, text: str, chat: bool | None = None) -> list[int]:
        self.check_chat(chat)
        return self.tokenizer.encode(word_tokenizer.to_model_text(text)).ids

    def decode(self, ids: list[int]) -> str:
        return word_tokenizer.detokenize([self.tokenizer.id_to_token(i) for i in ids])

    def token_strings(self, ids: list[int]) -> list[str]:
        return [self.tokenizer.id_to_token(i) for i in ids]
