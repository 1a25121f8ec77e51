"""Denoisers over Hugging Face checkpoints, one class per family's calling convention.

| family | class | forward | mask id | logits |
|---|---|---|---|---|
| masked_lm | AutoModelForMaskedLM | `model(input_ids, attention_mask).logits` | `tokenizer.mask_token_id` | special tokens -inf |
| mdlm | AutoModelForMaskedLM, remote | `model(input_ids, timesteps=0)` | vocab + 1 (GPT-2: 50257) | mask column -inf |
| bd3lm | as mdlm | as mdlm, `sample_mode=True` (block-causal) | as mdlm | as mdlm |
| llada | AutoModel, remote | `model(input_ids, attention_mask).logits` | `config.mask_token_id` (126336) | no shift |
| dream | AutoModel, remote | `model(x, "full", None).logits` | `config.mask_token_id` (151666) | shifted right by one |

Every family also bans the logit columns past the tokenizer (padding rows of the embedding).
`transformers` is imported only inside `load`.
"""
from pathlib import Path

import torch

from sampler.denoiser import Denoiser
from sampler.models.hf_registry import FAMILY_TRANSFORMERS, ModelLoadError, check_reachable, installed_transformers


def _dtype_kwarg(dtype: torch.dtype) -> dict:
    """transformers renamed `torch_dtype` to `dtype` in 4.56."""
    from packaging.version import Version

    return {"dtype" if Version(installed_transformers()) >= Version("4.56") else "torch_dtype": dtype}


class MaskedLMDenoiser(Denoiser):
    """Any `AutoModelForMaskedLM` (BERT, RoBERTa, ModernBERT, diffusion-tuned BERTs).

    Prompts start with the tokenizer's [CLS] (no [SEP]: generation continues after the prompt);
    [CLS], [SEP], [PAD], [UNK] and [MASK] are never drawn.
    """

    family = "masked_lm"
    auto_class = "AutoModelForMaskedLM"
    remote_code = False
    default_tokenizer: str | None = None  # where the tokenizer lives when the checkpoint has none
    max_length_keys = ("max_position_embeddings",)
    config_overrides: dict = {}  # config attributes set at load time

    def __init__(self, name: str, model, tokenizer, device: torch.device, chat: bool = False):
        if chat:
            raise ModelLoadError(name, f"{self.family} prompts take no chat template", "Pass chat=False.")
        self.name, self.model, self.tokenizer, self.device = name, model, tokenizer, device
        cfg = model.config
        self.vocab_size = int(getattr(cfg, "embedding_size", None) or cfg.vocab_size)  # LLaDA: embedding_size
        self.mask_id = self._resolve_mask_id()
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id
        self.max_length = next((int(getattr(cfg, k)) for k in self.max_length_keys if getattr(cfg, k, None)),
                               tokenizer.model_max_length)
        never = torch.zeros(self.vocab_size, dtype=torch.bool)
        never[len(tokenizer):] = True
        never[self._never_ids()] = True
        self._never = never.to(device)

    @classmethod
    def load(cls, source: str, device: torch.device, dtype: torch.dtype, offline: bool,
             tokenizer_source: str | None = None, chat: bool = False, **from_pretrained_kw) -> "MaskedLMDenoiser":
        """Build the model and tokenizer from `source` (a folder, or a hub id already checked reachable)."""
        import transformers

        tokenizer_source = tokenizer_source or cls._tokenizer_home(source)
        tokenizer_offline = check_reachable(tokenizer_source, offline)
        try:
            model = getattr(transformers, cls.auto_class).from_pretrained(
                source, trust_remote_code=cls.remote_code, local_files_only=offline, **_dtype_kwarg(dtype),
                **cls.config_overrides, **from_pretrained_kw)
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                tokenizer_source, trust_remote_code=cls.remote_code, local_files_only=tokenizer_offline)
        except ImportError as err:
            if "flash_attn" not in str(err):
                raise ModelLoadError(source, f"its code needs a missing package ({err})",
                                     "pip install the package named there.") from err
            raise ModelLoadError(source, "its model file imports flash_attn, which is not installed",
                                 "flash-attn needs a CUDA GPU: on one, pip install flash-attn "
                                 "--no-build-isolation; on CPU this released code cannot run.") from err
        except Exception as err:
            raise ModelLoadError(source, f"could not be built with transformers {installed_transformers()} "
                                 f"({type(err).__name__}: {err})", cls._version_hint()) from err
        return cls(source, model.to(device).eval(), tokenizer, device, chat)

    @classmethod
    def _tokenizer_home(cls, source: str) -> str:
        """The checkpoint's own tokenizer if it has one, else the family's (MDLM ships none: GPT-2)."""
        if cls.default_tokenizer is None or Path(source, "tokenizer_config.json").is_file():
            return source
        return cls.default_tokenizer

    @classmethod
    def _version_hint(cls) -> str:
        if not cls.remote_code:
            return "Check that the folder or id holds a masked language model."
        return (f"Its remote code is known to work with transformers{FAMILY_TRANSFORMERS[cls.family]}: "
                "use a separate environment with that version.")

    def _resolve_mask_id(self) -> int:
        if self.tokenizer.mask_token_id is None:
            raise ModelLoadError(self.name, "its tokenizer has no mask token", "Use a masked language model.")
        return self.tokenizer.mask_token_id

    def _never_ids(self) -> list[int]:
        return [self.mask_id, *self.tokenizer.all_special_ids]

    def _prompt_prefix(self) -> list[int]:
        return [] if self.tokenizer.cls_token_id is None else [self.tokenizer.cls_token_id]

    def _raw_logits(self, x: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        return self.model(input_ids=x, attention_mask=None if attention_mask is None else attention_mask.long()).logits

    @torch.no_grad()
    def logits(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = None if attention_mask is None else attention_mask.to(self.device, torch.bool)
        return self._raw_logits(x.to(self.device), mask).masked_fill(self._never, -torch.inf)

    def encode(self, text: str) -> list[int]:
        return self._prompt_prefix() + self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        """Display text; special tokens and ids past the tokenizer (MDLM's mask column) are left out."""
        return self.tokenizer.decode([i for i in ids if i < len(self.tokenizer)], skip_special_tokens=True)

    def token_strings(self, ids: list[int]) -> list[str]:
        mask_text = self.tokenizer.mask_token or "[MASK]"
        return [mask_text if i == self.mask_id else self.tokenizer.decode([i]) for i in ids]


class MDLMDenoiser(MaskedLMDenoiser):
    """MDLM (kuleshov-group/mdlm-owt): GPT-2 tokens plus a mask column, called with zero timesteps.

    The checkpoints take no attention mask: a batch must not hold padding.
    """

    family = "mdlm"
    remote_code = True
    default_tokenizer = "gpt2"
    max_length_keys = ("model_length",)
    forward_flags: dict = {}

    def _resolve_mask_id(self) -> int:
        mask_id = self.tokenizer.mask_token_id
        mask_id = len(self.tokenizer) if mask_id is None else mask_id  # the column after the tokenizer
        if mask_id != self.vocab_size - 1:
            raise ModelLoadError(self.name, f"mask id {mask_id} is not the last of {self.vocab_size} logit columns",
                                 "Load it with the tokenizer it was trained with (tokenizer=...).")
        return mask_id

    def _never_ids(self) -> list[int]:
        return [self.mask_id]

    def _prompt_prefix(self) -> list[int]:
        return [] if self.tokenizer.bos_token_id is None else [self.tokenizer.bos_token_id]

    def _raw_logits(self, x: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        if attention_mask is not None and not bool(attention_mask.all()):
            raise ValueError(f"{self.name} takes no attention mask: batch prompts of equal length")
        out = self.model(input_ids=x, timesteps=torch.zeros(x.shape[0], device=x.device), **self.forward_flags)
        return getattr(out, "logits", out)  # a tensor, or MaskedLMOutput when the config asks for dicts


class BD3LMDenoiser(MDLMDenoiser):
    """BD3-LM: MDLM's call in sample mode (block-causal attention over blocks of the checkpoint's size).

    Sample mode needs SDPA attention; the CUDA-only KV cache is not used.
    """

    family = "bd3lm"
    config_overrides = {"attn_backend": "sdpa"}
    forward_flags = {"sample_mode": True}

    def __init__(self, name: str, model, tokenizer, device: torch.device, chat: bool = False):
        super().__init__(name, model, tokenizer, device, chat)
        self.required_block_length = int(model.config.block_size)


class LLaDADenoiser(MaskedLMDenoiser):
    """LLaDA: `AutoModel`, mask id from the config (126336), no shift; Instruct prompts get the chat template."""

    family = "llada"
    auto_class = "AutoModel"
    remote_code = True
    default_mask_id = 126336
    max_length_keys = ("max_sequence_length",)

    def __init__(self, name: str, model, tokenizer, device: torch.device, chat: bool = False):
        if chat and not tokenizer.chat_template:
            raise ModelLoadError(name, "chat=True but its tokenizer has no chat template", "Pass chat=False.")
        self.chat = chat
        super().__init__(name, model, tokenizer, device)

    def _resolve_mask_id(self) -> int:
        for mask_id in (getattr(self.model.config, "mask_token_id", None), self.tokenizer.mask_token_id):
            if mask_id is not None:
                return int(mask_id)
        return self.default_mask_id

    def _never_ids(self) -> list[int]:
        return [self.mask_id]

    def encode(self, text: str) -> list[int]:
        """As the reference code: the chat template (Instruct) and the tokenizer's own special tokens."""
        if self.chat:
            text = self.tokenizer.apply_chat_template([{"role": "user", "content": text}],
                                                      add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text)["input_ids"]


class DreamDenoiser(LLaDADenoiser):
    """Dream: LLaDA's conventions, but logit i predicts token i + 1, so logits shift right by one."""

    family = "dream"
    default_mask_id = 151666
    max_length_keys = ("max_position_embeddings",)

    def _raw_logits(self, x: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        if attention_mask is None:
            logits = self.model(x, "full", None).logits
        else:  # the reference: positions skip the padding, which no query or key may see
            positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(~attention_mask, 1)
            pairs = attention_mask[:, None, None, :] & attention_mask[:, None, :, None]
            logits = self.model(x, pairs, positions).logits
        return torch.cat([logits[:, :1], logits[:, :-1]], dim=1)


ADAPTERS: dict[str, type[MaskedLMDenoiser]] = {
    cls.family: cls for cls in (MaskedLMDenoiser, MDLMDenoiser, BD3LMDenoiser, LLaDADenoiser, DreamDenoiser)
}
