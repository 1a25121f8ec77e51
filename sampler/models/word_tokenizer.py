"""Word-level tokenizer for the embedded Austen model (Hugging Face `tokenizers`).

Whole words (with contractions) and single punctuation marks are tokens, so the token
canvas stays readable. `detokenize` puts the spaces back the way English prints them.
"""
import re

from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

WORD_PATTERN = r"\w+(?:'\w+)*|[^\w\s]"
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[MASK]", "[EOS]"]
PARAGRAPH = "¶"  # paragraph break: an ordinary token, printed as a newline
NEWLINE = "\n"

_NO_SPACE_BEFORE = set(".,;:!?)]}") | {NEWLINE}
_NO_SPACE_AFTER = set("([{") | {NEWLINE}
_QUOTES = ('"', "'")


def train(paragraphs: list[str], vocab_size: int) -> Tokenizer:
    """A word-level tokenizer whose vocabulary is the `vocab_size` most frequent pieces."""
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated"),
    ])
    tok.train_from_iterator([to_model_text(p) for p in paragraphs],
                            trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS))
    return tok


def to_model_text(text: str) -> str:
    """Plain text as the tokenizer reads it: newlines become the paragraph token."""
    return re.sub(r"\s*\n\s*", f" {PARAGRAPH} ", text.replace("_", ""))


def detokenize(tokens: list[str]) -> str:
    """Join word tokens with English spacing: quotes alternate open/close, hyphens join."""
    out, open_quotes, glue_next = [], set(), True
    for t in tokens:
        t = NEWLINE if t == PARAGRAPH else t
        glue = glue_next or t in _NO_SPACE_BEFORE or t == "-"
        glue_next = t in _NO_SPACE_AFTER or t == "-"
        if t in _QUOTES:
            if t in open_quotes:
                glue = True
            else:
                glue_next = True
            open_quotes ^= {t}
        out.append(t if glue else " " + t)
    return "".join(out)
