"""The model card's training story: the commands that reproduce a checkpoint resumed more than once."""
from pathlib import Path

from training.model_card import training_story
from training.train_mdlm import resume_chain

FIRST = "python -m training.train_mdlm --steps 3000 --eval-every 250"
AGAIN = "python -m training.train_mdlm --steps 3000 --eval-every 125"


def test_every_resume_is_kept_and_told():
    first_stop = {"command": FIRST, "best_step": 1750}
    once = {"command": AGAIN, "best_step": 2250, "resumed": resume_chain(first_stop, 1750, True)}
    twice = {"command": AGAIN, "best_step": 3000, "resumed": resume_chain(once, 2250, True)}
    assert [r["from_step"] for r in twice["resumed"]] == [1750, 2250]
    assert {r["first_command"] for r in twice["resumed"]} == {FIRST}
    command, ended = training_story(twice, Path("m"))
    assert command.split(" && ") == [f"{FIRST} --stop-after 1750 --out m", f"{AGAIN} --resume m --bf16 --stop-after 2250",
                                     f"{AGAIN} --resume m --bf16"]
    assert "full 3000-step schedule" in ended and "steps 1750 and 2250" in ended


def test_a_card_from_before_chains_reads_as_one_resume():
    card = {"command": AGAIN, "best_step": 2250, "stopped_at_step": 2250,
            "resumed": {"from_step": 1750, "bf16_autocast": False, "first_command": FIRST}}
    command, ended = training_story(card, Path("m"))
    assert command == f"{FIRST} --stop-after 1750 --out m && {AGAIN} --resume m --stop-after 2250"
    assert "stopped at step 2250 of a 3000-step schedule" in ended and "in float32" in ended
    assert [r["from_step"] for r in resume_chain(card, 2250, True)] == [1750, 2250]
