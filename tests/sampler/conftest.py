"""Fixtures shared by the sampler tests."""
import pytest
import torch

from sampler.models import word_tokenizer
from sampler.models.austen_net import AustenNet, NetConfig
from training.train_mdlm import save

TEXT = ['"I do not know," said Emma, "whether Mr. Knightley will come."',
        "It is a truth universally acknowledged, that a single man must be in want of a wife.",
        "She was not quite eighteen--and well-meaning (so 'very' well).\nEmma wasn't."]


@pytest.fixture(scope="session")
def tiny_austen_folder(tmp_path_factory):
    """A randomly initialised net with a tokenizer trained on three sentences, saved as the trainer saves."""
    torch.manual_seed(0)
    tok = word_tokenizer.train([word_tokenizer.to_model_text(t + "\n") for t in TEXT], 64)
    net = AustenNet(NetConfig(vocab_size=tok.get_vocab_size(), d_model=32, n_layers=2, n_heads=2, d_ff=64))
    out = tmp_path_factory.mktemp("austen")
    save(net, tok, out, {"note": "test"})
    return out


