"""Trace files: round trips, the shipped examples, and a named error for every bad upload."""
import json

import numpy as np
import pytest

from explorer import io
from explorer.limits import Limits
from explorer.payload import payload, unpack_steps
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


def grown_branch(parent):
    """`parent` continued after its middle step with 7 particles (N = 4 in the fixtures: 3 copies by weight)."""
    from sampler.branch import BranchStart, branch_config
    from sampler.models.toy import BigramToy
    from sampler.smc import decode

    t = parent.n_steps // 2
    return decode(BigramToy(), branch_config(parent, n_particles=7), start=BranchStart.at(parent, t)).trace


def test_a_grown_branch_loads_and_fits_the_player(smc_trace, tmp_path):
    """A branch that grew from N = 4 to 7 particles: its file loads, its payload carries 7 rows at every frame (the
    prefix lifted) and the parent's N, and the drawing budget counts the 7."""
    branch, t = grown_branch(smc_trace), smc_trace.n_steps // 2
    traces, _ = io.load_traces([branch.save(tmp_path / "grown.json")])
    run = payload(traces)["runs"]["sr-smc"]
    assert run["what_if"]["branch"] == {"parent": smc_trace.run_id, "step": t, "n_particles": 4}
    assert all(len(s["log_weight"]) == 7 for s in unpack_steps(run["steps"])) and len(run["final"]["texts"][0]) == 7
    have = Limits().draw_cost(traces)
    assert have["particles"] == 7 and have["nodes"] == (branch.n_steps + 1) * 7


def test_the_player_draws_a_grown_branch_frame_by_frame(browser, smc_trace, tmp_path):
    """In chromium, without page errors: every frame of the grown branch (the lifted prefix included) is
    `Trace.state_at(t, before_resample=True)`: tokens and roots of all 7 particles."""
    from explorer.player import export_html

    branch = grown_branch(smc_trace)
    path = tmp_path / "grown.html"
    path.write_text(export_html({"sr-smc": branch}))
    pg, errors = browser.new_page(viewport={"width": 1440, "height": 900}), []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(path.as_uri())
    pg.wait_for_selector("#srp-player[data-state=ready]")
    got = pg.evaluate("""() => { const r = document.getElementById('srp-player').srp.main;
      return {tokens: Array.from(r.tokens), roots: r.roots, N: r.N, T: r.T}; }""")
    pg.close()
    N, T, W = 7, branch.n_steps, branch.prompt_width
    assert not errors and (got["N"], got["T"]) == (N, T)
    tokens = np.array(got["tokens"]).reshape(T + 1, N, -1)
    for t in range(T + 1):
        state = branch.state_at(t, before_resample=True)
        np.testing.assert_array_equal(tokens[t], state.tokens[:, W:])
        np.testing.assert_array_equal(got["roots"][t], state.roots)
