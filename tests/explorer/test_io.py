"""Trace files: round trips, the shipped examples, and a named error for every bad upload."""
import json

import pytest

from explorer import io
from explorer.limits import Limits
from explorer.payload import payload
from sampler.trace import TraceFormatError
from tests.explorer.conftest import record


def test_save_then_load_round_trip(smc_trace, greedy_trace, tmp_path):
    paths = [greedy_trace.save(tmp_path / "g.json"), smc_trace.save(tmp_path / "s.json")]
    traces, notes = io.load_traces(paths)
    assert traces == {"greedy": greedy_trace, "sr-smc": smc_trace} and notes == []


def test_multi_prompt_trace_shows_the_first_prompt(tmp_path):
    path = record(prompts=("the cat", "a dog sat"), n_particles=2).save(tmp_path / "two.json")
    traces, notes = io.load_traces([path])
    assert traces["sr-smc"].prompts == ["the cat", "a dog sat"]
    assert notes == ["two.json holds 2 prompts; showing the first."]


def corrupt(trace_dict, tmp_path, name, change):
    d = json.loads(json.dumps(trace_dict))
    change(d)
    path = tmp_path / name
    path.write_text(json.dumps(d))
    return path


@pytest.mark.parametrize("name, change, message", [
    ("schema.json", lambda d: d.update(schema_version=99), "schema_version 99 is not supported"),
    ("foreign.json", lambda d: d.pop("schema_version"), "not an SR-SMC trace"),
    ("steps.json", lambda d: d["steps"][0].update(rows=[999] * len(d["steps"][0]["rows"])),
     r"steps\[0\].rows must hold numbers in \[0, 4\)"),
    ("final.json", lambda d: d.update(final={}), "final lacks chosen, texts"),
    ("chosen.json", lambda d: d["final"].update(chosen=[7]), r"final.chosen must hold numbers in \[0, 4\)"),
    ("config.json", lambda d: d["config"].pop("n_particles"), "config lacks n_particles"),
])
def test_corrupt_uploads_name_the_file_and_the_problem(smc_trace, tmp_path, name, change, message):
    path = corrupt(smc_trace.to_dict(), tmp_path, name, change)
    with pytest.raises(TraceFormatError, match=message) as e:
        io.load_traces([path])
    assert str(e.value).startswith(name)


def test_non_json_and_duplicate_uploads(smc_trace, tmp_path):
    (tmp_path / "notes.txt").write_bytes(b"\x89PNG\x00\xff not json")
    with pytest.raises(TraceFormatError, match="notes.txt.*not a JSON trace"):
        io.load_traces([tmp_path / "notes.txt"])
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(TraceFormatError, match="list.json.*not an SR-SMC trace"):
        io.load_traces([tmp_path / "list.json"])
    a, b = smc_trace.save(tmp_path / "a.json"), smc_trace.save(tmp_path / "b.json")
    with pytest.raises(TraceFormatError, match="b.json: a second SR-SMC trace"):
        io.load_traces([a, b])
    with pytest.raises(TraceFormatError, match="no trace file"):
        io.load_traces([])


def test_unknown_example_is_named():
    with pytest.raises(TraceFormatError, match="no example named 'nope'"):
        io.load_example("nope")


@pytest.mark.parametrize("name", io.list_examples() or [pytest.param(None, marks=pytest.mark.skip(
    reason="no recorded examples in assets/examples yet: run `python -m tools.make_examples`"))])
def test_shipped_examples_load_and_go_to_the_player(name):
    traces, compare = io.load_example(name)
    for path in (io.EXAMPLES_DIR / name).glob("*.json"):
        assert path.stat().st_size < 300_000, f"{path} is over 300 KB"
    if compare:  # an original and its branch
        original, branch = compare
        assert traces == {"sr-smc": original} and branch.parent["run_id"] == original.run_id
        assert branch.steps[:branch.parent["step"]] == original.steps[:branch.parent["step"]]
    else:
        smc, greedy = traces["sr-smc"], traces["greedy"]
        assert smc.prompts == greedy.prompts and smc.config["seed"] == greedy.config["seed"]
    json.dumps(payload(traces, compare=compare), allow_nan=False).encode("utf-8")  # what the browser gets


def test_loading_is_all_or_nothing_and_checks_the_limit(smc_trace, greedy_trace, tmp_path):
    good = smc_trace.save(tmp_path / "sr-smc.json")
    bad = corrupt(greedy_trace.to_dict(), tmp_path, "greedy.json",
                  lambda d: d["steps"][0]["log_weight"].__setitem__(0, float("nan")))
    with pytest.raises(TraceFormatError, match=r"greedy.json: corrupt trace: steps\[0\].log_weight"):
        io.load_traces([good, bad])
    cost = Limits().trace_cost([smc_trace])  # rows × steps × length, and the recorded alternatives
    with pytest.raises(ValueError, match=f"{cost:,} cell-steps to replay"):
        io.load_traces([good], Limits(max_trace_cost=cost - 1))
    assert io.load_traces([good], Limits(max_trace_cost=cost))[0]["sr-smc"] == smc_trace
