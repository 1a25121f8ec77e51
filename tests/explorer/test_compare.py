import pytest

from explorer.compare import comparison, describe_comparison, run_names, shared_steps, to_compare
from explorer.payload import payload
from sampler.branch import BranchStart, branch_config
from sampler.models.toy import BigramToy
from sampler.smc import decode
from tests.explorer.conftest import one_torch_thread, record


@pytest.fixture(scope="module")
def kappas():
    return record(ess_threshold=0.5), record(ess_threshold=0.9)


@pytest.fixture(scope="module")
def branch(smc_trace):
    with one_torch_thread():
        return decode(BigramToy(), branch_config(smc_trace, no_repeat_ngram=2, seed=7),
                      start=BranchStart.at(smc_trace, 5)).trace


def test_runs_are_named_by_the_settings_that_differ(kappas):
    assert run_names(list(kappas)) == ["κ 0.5", "κ 0.9"]
    three = [*kappas, record(ess_threshold=0.9, seed=4)]
    assert run_names(three) == ["κ 0.5, seed 3", "κ 0.9, seed 3", "κ 0.9, seed 4"]
    assert run_names([kappas[0], kappas[0]]) == ["run 1", "run 2"]


def test_a_branch_shares_its_parents_steps_and_opens_at_its_branch_step(smc_trace, branch):
    c = comparison([smc_trace, branch])
    assert c["names"] == ["no-repeat off, seed 3", "branch at step 5 of run 1: no-repeat 2, seed 7"]
    assert c["branch"] == {"run": 1, "parent": 0, "step": 5} and c["start"] == 5
    assert c["shared"] >= 5 and branch.steps[:c["shared"]] == smc_trace.steps[:c["shared"]]
    assert c["shared"] == branch.n_steps or branch.steps[c["shared"]] != smc_trace.steps[c["shared"]]


def test_shared_steps_end_at_the_first_step_recorded_differently(kappas):
    a, b = kappas
    s = shared_steps([a, b])
    assert a.steps[:s] == b.steps[:s] and (s == a.n_steps or a.steps[s] != b.steps[s])
    assert shared_steps([a, a]) == a.n_steps


def test_runs_of_different_kinds_prompts_or_numbers_are_refused_by_name(smc_trace, greedy_trace):
    with pytest.raises(ValueError, match="run 2 is a greedy run and run 1 a SR-SMC run"):
        comparison([smc_trace, greedy_trace])
    with pytest.raises(ValueError, match="run 2 answers another prompt .*'a dog'"):
        comparison([smc_trace, record(prompts=("a dog",))])
    with pytest.raises(ValueError, match="1 run\\(s\\): compare 2 to 4"):
        comparison([smc_trace])
    with pytest.raises(ValueError, match="5 run\\(s\\)"):
        comparison([smc_trace] * 5)


def test_an_upload_compares_runs_of_one_kind_and_replaces_other_prompts(kappas, smc_trace, greedy_trace):
    a, b = kappas
    assert to_compare([a, b], {}) == [a, b]
    assert to_compare([b], {"sr-smc": a, "greedy": greedy_trace}) == [a, b]
    assert to_compare([a], {"sr-smc": a}) is None  # the same run again
    assert to_compare([record(prompts=("a dog",))], {"sr-smc": a}) is None  # another prompt: it replaces
    assert to_compare([smc_trace, greedy_trace], {}) is None  # one of each kind: loaded as before
    with pytest.raises(ValueError, match="another prompt"):
        to_compare([a, record(prompts=("a dog",))], {})
    assert describe_comparison([a, b]) == (f"Comparing 2 SR-SMC runs (κ 0.5; κ 0.9): they differ in κ; steps 0–"
                                           f"{shared_steps([a, b])} are shared.")


def test_the_payload_carries_the_comparison_with_every_run(kappas):
    p = payload({"sr-smc": kappas[0]}, compare=list(kappas))
    assert [r["config"]["ess_threshold"] for r in p["compare"]["runs"]] == [0.5, 0.9]
    assert p["compare"]["names"] == ["κ 0.5", "κ 0.9"] and "compare" not in payload({"sr-smc": kappas[0]})
