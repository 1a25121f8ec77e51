"""Any `AutoModelForMaskedLM` checkpoint (BERT, RoBERTa, ModernBERT, diffusion-tuned BERTs) as a Denoiser.

`model(input_ids, attention_mask).logits`; the mask id is `tokenizer.mask_token_id`; special tokens and
columns past the tokenizer are never drawn. `transformers` is imported only inside `load`.
"""
import torch

from sampler.denoiser import Denoiser
from sampler.models.hf_registry import ModelLoadError


class MaskedLMDenoiser(Denoiser):
    """Prompts start with the tokenizer's [CLS] (no [SEP]: generation continues after the prompt);
    [CLS], [SEP], [PAD], [UNK] and [MASK] are never drawn."""

    family = "masked_lm"
    chat_default = False
    has_chat_template = False

    def __init__(self, name: str, model, tokenizer, device: torch.device):
        self.name, self.model, self.tokenizer, self.device = name, model, tokenizer, device
        cfg = model.config
        self.vocab_size = int(cfg.vocab_size)
        if tokenizer.mask_token_id is None:
            raise ModelLoadError(name, "its tokenizer has no mask token", "Use a masked language model.")
        self.mask_id = tokenizer.mask_token_id
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id
        self.max_length = int(getattr(cfg, "max_position_embeddings", None) or tokenizer.model_max_length)
        never = torch.zeros(self.vocab_size, dtype=torch.bool)
        never[len(tokenizer):] = True
        never[[self.mask_id, *tokenizer.all_special_ids]] = True
        self._never = never.to(device)

    @classmethod
    def load(cls, source: str, device: torch.device, dtype: torch.dtype, offline: bool,
             tokenizer: str | None = None) -> "MaskedLMDenoiser":
        """Build the model and tokenizer from `source` (a folder, or a hub id already checked reachable)."""
        import transformers

        try:
            model = transformers.AutoModelForMaskedLM.from_pretrained(source, local_files_only=offline, dtype=dtype)
            tok = transformers.AutoTokenizer.from_pretrained(tokenizer or source, local_files_only=offline)
        except (OSError, ValueError) as err:
            raise ModelLoadError(source, f"could not be loaded as a masked language model ({err})",
                                 "Check that the folder or id holds a masked language model.") from err
        return cls(source, model.to(device).eval(), tok, device)

    @torch.no_grad()
    def logits(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = None if attention_mask is None else attention_mask.to(self.device).long()
        return self.model(input_ids=x.to(self.device), attention_mask=mask).logits.masked_fill(self._never, -torch.inf)

    def encode(self, text: str, chat: bool | None = None) -> list[int]:
        self.check_chat(chat)
        prefix = [] if self.tokenizer.cls_token_id is None else [self.tokenizer.cls_token_id]
        return prefix + self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode([i for i in ids if i < len(self.tokenizer)], skip_special_tokens=True)

    def token_strings(self, ids: list[int]) -> list[str]:
        return [self.tokenizer.mask_token if i == self.mask_id else self.tokenizer.decode([i]) for i in ids]
