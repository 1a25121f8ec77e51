import json

import numpy as np
import pytest

from sampler.config import SamplerConfig
from sampler.smc import decode
from sampler.trace import Trace, TraceFormatError
from sampler.models.toy import BigramToy


@pytest.fixture(scope="module")
def trace() -> Trace:
    c = SamplerConfig(prompts=("the cat", "a dog"), gen_length=24, steps=12, block_length=8, n_particles=6,
                      temperature=1.0, ess_threshold=0.8, seed=7)
    return decode(BigramToy(scale=3.0), c).trace


def test_save_load_round_trip(trace, tmp_path):
    loaded = Trace.load(trace.save(tmp_path / "t.json"))
    assert loaded == trace
    for t in (0, 5, trace.n_steps):
        a, b = trace.state_at(t), loaded.state_at(t)
        assert (a.tokens == b.tokens).all() and np.array_equal(a.log_conf, b.log_conf, equal_nan=True)


@pytest.mark.parametrize("content,message", [
    ("{not json", "not a JSON trace"),
    ('{"hello": 1}', "no schema_version"),
    ("[1, 2]", "no schema_version"),
    ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply|no schema_version"),  # was RecursionError
    ('{"schema_version": 1, "x": ' + "[" * 500 + "]" * 500 + "}", "unknown fields: x"),
    ('{"schema_version": 1, "model": ' + "9" * 5000 + "}", "not a JSON trace file"),  # the int-digits limit
    ('{"schema_version": true}', "schema_version True is not supported"),
], ids=["not-json", "foreign", "list", "nested-100000", "nested-500", "int-5000-digits", "bool-version"])
def test_corrupt_or_foreign_files_raise(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(TraceFormatError, match=message):
        Trace.load(path)


def test_binary_file_raises(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(TraceFormatError):
        Trace.load(path)


def test_other_schema_version_raises(trace, tmp_path):
    d = trace.to_dict()
    d["schema_version"] = 99
    (tmp_path / "v99.json").write_text(json.dumps(d))
    with pytest.raises(TraceFormatError, match="schema_version 99 is not supported"):
        Trace.load(tmp_path / "v99.json")


@pytest.mark.parametrize("corrupt", ["row", "ancestor", "missing", "length"])
def test_inconsistent_content_raises(trace, tmp_path, corrupt):
    d = json.loads(json.dumps(trace.to_dict()))
    step = next(s for s in d["steps"] if s["ancestors"] is not None)
    if corrupt == "row":
        step["rows"][0] = 999
    elif corrupt == "ancestor":
        step["ancestors"][0][0] = 6
    elif corrupt == "missing":
        del step["ess"]
    else:
        step["tokens"].pop()
    (tmp_path / "c.json").write_text(json.dumps(d))
    with pytest.raises(TraceFormatError, match="corrupt trace"):
        Trace.load(tmp_path / "c.json")


def test_lineage_matches_brute_force(trace):
    T, N = trace.n_steps, trace.n_particles
    assert any(trace.resample_steps(p) for p in range(2))
    for row in range(trace.n_rows):
        path = trace.lineage(row)
        assert len(path) == T + 1 and path[-1] == row
        for s in range(1, T + 1):
            assert path[s - 1] == trace.parents(s)[path[s]]
            assert path[s] // N == row // N  # never leaves its prompt's group
    roots = trace.roots()
    assert [trace.lineage(r)[0] % N for r in range(trace.n_rows)] == roots.tolist()
    for p in range(2):
        s = trace.common_ancestor_step(p)
        rows = list(trace.rows_of(p))
        ancestors_at = lambda step: {trace.lineage(r)[step] for r in rows}  # noqa: E731
        if s is None:
            assert len(ancestors_at(0)) > 1
        else:
            assert len(ancestors_at(s)) == 1
            assert s == T or len(ancestors_at(s + 1)) > 1


def test_inherited_tokens_follow_resampling(trace):
    t = trace.resample_steps(0)[0]
    before, after = trace.state_at(t, before_resample=True), trace.state_at(t)
    a = trace.parents(t)
    for r in trace.rows_of(0):
        committed = after.commit_step[r] >= 0
        if a[r] != r:
            assert after.inherited[r][committed].all()
        assert (after.tokens[r] == before.tokens[a[r]]).all()
    # tokens a row commits after the resample are its own (until the next resample moves them)
    later = trace.state_at(t + 1, before_resample=True)
    own = later.commit_step == t + 1
    assert not later.inherited[own].any()


def test_trace_size_grows_with_events_not_snapshots():
    sizes = {}
    for N, G in ((2, 32), (4, 32), (2, 64)):
        c = SamplerConfig(prompts=("the",), gen_length=G, steps=G, n_particles=N, ess_threshold=0.5)
        t = decode(BigramToy(), c).trace
        sizes[N, G] = sum(len(s.rows) for s in t.steps) + sum(len(s.log_weight) for s in t.steps)
        assert sizes[N, G] == N * G + N * t.n_steps  # one commit per token, one weight per row and step


# ----- the validator: every defect of issue 9, as a named TraceFormatError -------------------------------------
def first_resampling(d):
    return next(s for s in d["steps"] if s["ancestors"] is not None)


def edit(fn):
    def change(d):
        fn(d)
        return d
    return change


@pytest.mark.parametrize("change, field", [
    (edit(lambda d: d["steps"][2]["log_weight"].__setitem__(0, float("nan"))), r"steps\[2\].log_weight .*finite"),
    (edit(lambda d: d["steps"][2]["log_increment"].__setitem__(1, float("inf"))), r"steps\[2\].log_increment"),
    (edit(lambda d: d["steps"][0]["log_conf"].__setitem__(0, float("-inf"))), r"steps\[0\].log_conf .*finite"),
    (edit(lambda d: d["final"]["scores"][0].__setitem__(0, float("nan"))), r"final.scores\[0\]"),
    (edit(lambda d: d["vocab"].__setitem__("3", 7)), r"vocab\[3\] must be a string"),
    (edit(lambda d: d["vocab"].__setitem__("3", "ok \ud800")), r"vocab\[3\] holds a character that is not valid text"),
    (edit(lambda d: d["prompts"].__setitem__(0, "\udfff")), r"prompts\[0\] holds a character"),
    (edit(lambda d: d["final"]["texts"][1].__setitem__(2, "\ud800x")), r"final.texts\[1\]\[2\]"),
    (edit(lambda d: d.update(config=[1, 2])), r"config must be an object, not list"),
    (edit(lambda d: d["config"].update(n_particles=6.0)), r"config.n_particles = 6.0: must be a whole number"),
    (edit(lambda d: d["config"].update(seed={"a": 1})), r"config.seed must be a number, string"),
    (edit(lambda d: d["steps"][0]["tokens"].__setitem__(0, 10**30)), r"steps\[0\].tokens must hold (whole )?numbers"),
    (edit(lambda d: d["steps"][0]["tokens"].__setitem__(0, 9999)), r"steps\[0\].tokens holds token ids outside the vocab"),
    (edit(lambda d: d["steps"][0]["tokens"].__setitem__(0, d["mask_id"])), r"must not commit the MASK token"),
    (edit(lambda d: d["vocab"].__setitem__("1" + "0" * 30, "x")), r"vocab key '10+' must be a token id"),
    (edit(lambda d: first_resampling(d)["ancestors"][0].__setitem__(0, 1.0)), r"ancestors\[0\] must hold whole numbers"),
    (edit(lambda d: first_resampling(d)["ess"].__setitem__(0, "4.2")), r"ess must hold numbers only"),
    (edit(lambda d: first_resampling(d)["ess"].__setitem__(0, 7.5)), r"ess must hold values in \(0, N = 6\]"),
    (edit(lambda d: first_resampling(d)["resampled"].__setitem__(0, "yes")), r"resampled must hold true/false only"),
    (edit(lambda d: d["steps"][3].update(step=9)), r"steps\[3\].step = 9: steps must be numbered 1, 2, 3"),
    (edit(lambda d: d.update(steps=d["steps"][:5])), r"stats.n_steps = 12 but the trace holds 5 steps"),
    (edit(lambda d: (d.update(steps=d["steps"][:5]), d["stats"].pop("n_steps"))),
     r"steps do not complete the run"),
    (edit(lambda d: d["steps"][0]["positions"].__setitem__(0, 0)), r"steps\[0\].positions must hold numbers in \[\d+,"),
    (edit(lambda d: d["initial"][1].pop()), r"initial\[1\] must have \d+ entries"),
    (edit(lambda d: d["initial"][0].__setitem__(-1, 0)), r"initial\[0\] must be MASK after prompt_width"),
    (edit(lambda d: d.pop("final")), r"trace lacks final"),
    (edit(lambda d: d.update(extra=1)), r"trace has unknown fields: extra"),
    (edit(lambda d: d["steps"][1].update(note="x")), r"steps\[1\] has unknown fields: note"),
    (edit(lambda d: d.update(model=["m"])), r"model must be a string"),
    (edit(lambda d: d["steps"][1].__setitem__("rows", "0123")), r"steps\[1\].rows must be a list, not str"),
    (edit(lambda d: d["stats"].update(wall_time_s=float("nan"))), r"stats.wall_time_s must be a finite number"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_every_malformed_field_is_a_named_format_error(trace, tmp_path, change, field):
    d = change(json.loads(json.dumps(trace.to_dict())))
    path = tmp_path / "upload.json"
    path.write_text(json.dumps(d))  # json writes NaN/Infinity and \ud800 escapes, as a hostile file would
    with pytest.raises(TraceFormatError, match=field) as e:
        Trace.load(path)
    assert str(e.value).startswith("upload.json: ")


def test_the_recorded_trace_is_valid(trace):
    trace.validate()
    Trace.from_dict(json.loads(json.dumps(trace.to_dict())))


def test_unreadable_paths_are_format_errors(tmp_path):
    with pytest.raises(TraceFormatError, match="folder.json: cannot be read"):
        Trace.load((tmp_path / "folder.json").mkdir() or tmp_path / "folder.json")
    with pytest.raises(TraceFormatError, match="missing.json: cannot be read"):
        Trace.load(tmp_path / "missing.json")


def test_save_refuses_nan_instead_of_writing_a_file_that_cannot_load(trace, tmp_path):
    broken = Trace.from_dict(json.loads(json.dumps(trace.to_dict())))
    broken.steps[0].log_weight[0] = float("nan")
    with pytest.raises(ValueError):
        broken.save(tmp_path / "nan.json")


# ----- save → load → replay equals the live run, for every schedule ------------------------------------------
class Live:
    """Observer keeping every step's population before and after its resampling."""

    def __init__(self):
        self.before, self.after, self.log_w = [], [], []

    def __call__(self, info):
        self.before.append(info.x.clone().numpy())
        self.after.append(info.state.x.clone().numpy())
        self.log_w.append(info.state.log_w.clone().numpy())


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_particles", [1, 2, 4])
@pytest.mark.parametrize("resample_when", ["every_step", "block_end", "every_k"])
@pytest.mark.parametrize("policy", ["topk", "threshold", "random"])
def test_a_saved_run_replays_the_live_run_at_every_step(policy, resample_when, n_particles, seed, tmp_path):
    """Thresholds 0.1 / 0.15 finish blocks early (the recorded steps once had gaps: [1, 9])."""
    cfg = SamplerConfig(prompts=("the cat", "a"), gen_length=16, steps=8, block_length=8, n_particles=n_particles,
                        policy=policy, threshold=(0.1, 0.15, 0.3)[seed], resample_when=resample_when, resample_every=2,
                        ess_threshold=0.9, temperature=1.0, seed=seed)
    live = Live()
    result = decode(BigramToy(scale=3.0), cfg, observers=(live,))
    loaded = Trace.load(result.trace.save(tmp_path / "run.json"))
    assert loaded == result.trace and loaded.n_steps == len(live.after) == result.n_steps
    assert [s.step for s in loaded.steps] == list(range(1, loaded.n_steps + 1))
    for t in range(1, loaded.n_steps + 1):
        np.testing.assert_array_equal(loaded.state_at(t).tokens, live.after[t - 1])
        np.testing.assert_array_equal(loaded.state_at(t, before_resample=True).tokens, live.before[t - 1])
        np.testing.assert_allclose(loaded.state_at(t).log_weight, live.log_w[t - 1], rtol=1e-6)
    final = loaded.state_at(loaded.n_steps)
    np.testing.assert_array_equal(final.tokens, result.sequences.numpy())
    assert not final.masked[:, loaded.prompt_width:].any()


# ----- schema 2: alternatives, run id, parent ----------------------------------------------------------------
def as_schema_1(d: dict) -> dict:
    """A schema 2 trace dict as the schema 1 writer wrote it: no alternatives, run id or parent."""
    d = json.loads(json.dumps(d))
    for key in ("run_id", "parent"):
        d.pop(key)
    for s in d["steps"]:
        for key in ("alt_tokens", "alt_probs", "ranks"):
            s.pop(key)
    d["config"].pop("top_k_alternatives")
    d["schema_version"] = 1
    return d


def test_schema_1_files_still_load_without_alternatives(trace, tmp_path):
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(as_schema_1(trace.to_dict())))
    old = Trace.load(path)
    assert old.schema_version == 2 and old.alternatives_k == 0 and old.parent is None
    assert all(s.alt_tokens is None and s.ranks is None for s in old.steps)
    assert len(old.run_id) == 16 and old.run_id != trace.run_id
    assert [s.tokens for s in old.steps] == [s.tokens for s in trace.steps]
    np.testing.assert_array_equal(old.state_at(old.n_steps).tokens, trace.state_at(trace.n_steps).tokens)
    assert Trace.load(old.save(tmp_path / "v2.json")) == old  # saved again as schema 2, it reads back the same


def test_the_run_id_is_deterministic_and_names_the_content(trace):
    c = SamplerConfig(prompts=("the cat", "a dog"), gen_length=24, steps=12, block_length=8, n_particles=6,
                      temperature=1.0, ess_threshold=0.8, seed=7)
    assert decode(BigramToy(scale=3.0), c).trace.run_id == trace.run_id
    assert decode(BigramToy(scale=3.0), c.replace(seed=8)).trace.run_id != trace.run_id
    assert trace.parent is None


def test_alternatives_cover_every_commit_and_agree_with_it(trace):
    k = trace.alternatives_k
    assert k == 5
    for s in trace.steps:
        n = len(s.tokens)
        assert len(s.alt_tokens) == n * k and len(s.alt_probs) == n * k and len(s.ranks) == n
        alt = np.asarray(s.alt_tokens).reshape(n, k)
        probs = np.asarray(s.alt_probs).reshape(n, k)
        assert (np.diff(probs, axis=1) <= 0).all()
        for i, (token, rank, c) in enumerate(zip(s.tokens, s.ranks, np.exp(s.log_conf))):
            if token in alt[i]:  # listed with p = its confidence c, at its rank or after tokens tied with it
                j = list(alt[i]).index(token)
                assert probs[i, j] == pytest.approx(c, rel=1e-3) and rank <= j + 1
                assert probs[i, rank - 1] == pytest.approx(c, rel=1e-3)
            else:  # every listed token at least as likely; tied with the last when its rank is ≤ k
                assert rank > k or probs[i, -1] == pytest.approx(c, rel=1e-3)
                assert probs[i, -1] >= c * (1 - 1e-3)
        assert set(s.alt_tokens) <= set(trace.vocab)


def hostile(fn):
    return edit(fn)


@pytest.mark.parametrize("change, field", [
    (hostile(lambda d: d["steps"][0]["alt_tokens"].__setitem__(0, 9999)),
     r"steps\[0\].alt_tokens holds token ids outside the vocabulary"),
    (hostile(lambda d: d["steps"][0]["alt_tokens"].__setitem__(0, -1)), r"steps\[0\].alt_tokens must hold numbers"),
    (hostile(lambda d: d["steps"][1]["alt_probs"].__setitem__(0, 1.5)), r"steps\[1\].alt_probs must hold probabilit"),
    (hostile(lambda d: d["steps"][1]["alt_probs"].__setitem__(4, -0.1)), r"steps\[1\].alt_probs must hold probabil"),
    (hostile(lambda d: d["steps"][1]["alt_probs"].__setitem__(0, float("nan"))), r"steps\[1\].alt_probs .*finite"),
    (hostile(lambda d: d["steps"][1]["alt_probs"].__setitem__(4, 0.99)), r"alt_probs must list .* most likely first"),
    (hostile(lambda d: d["config"].update(top_k_alternatives=4)), r"steps\[0\].alt_tokens must hold k = 4"),
    (hostile(lambda d: d["config"].update(top_k_alternatives=0)), r"steps\[0\].alt_tokens must be null"),
    (hostile(lambda d: d["config"].update(top_k_alternatives=-2)), r"config: top_k_alternatives = -2: must be an integer in \[0, 5\]"),
    (hostile(lambda d: d["steps"][2].update(alt_probs=None)), r"steps\[2\].alt_probs is null but"),
    (hostile(lambda d: d["steps"][2]["ranks"].__setitem__(0, 0)), r"steps\[2\].ranks must hold numbers in \[1,"),
    (hostile(lambda d: d["steps"][2]["ranks"].pop()), r"steps\[2\].ranks must have"),
    (hostile(lambda d: d["steps"][2]["ranks"].__setitem__(0, 6) if d["steps"][2]["ranks"][0] == 1 else
             d["steps"][2]["ranks"].__setitem__(0, 1)), r"ranks must agree with the alternatives"),
    (hostile(lambda d: d.update(run_id="not-an-id")), r"run_id = 'not-an-id': must be 16 hex digits"),
    (hostile(lambda d: d.update(parent={"run_id": "0123456789abcdeg", "step": 1})), r"parent.run_id = .* hex"),
    (hostile(lambda d: d.update(parent={"run_id": d["run_id"], "step": 1})), r"parent.run_id must not be the run's"),
    (hostile(lambda d: d.update(parent={"run_id": "0123456789abcdef", "step": 99})), r"parent.step = 99"),
    (hostile(lambda d: d.update(parent={"run_id": "0123456789abcdef"})), r"parent lacks step"),
    (hostile(lambda d: d.update(parent=[1])), r"parent must be an object"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_hostile_schema_2_fields_are_named_format_errors(trace, tmp_path, change, field):
    d = change(json.loads(json.dumps(trace.to_dict())))
    path = tmp_path / "upload.json"
    path.write_text(json.dumps(d))
    with pytest.raises(TraceFormatError, match=field):
        Trace.load(path)


def test_a_schema_1_file_may_not_carry_schema_2_fields(trace, tmp_path):
    d = as_schema_1(trace.to_dict())
    d["steps"][0]["ranks"] = [1] * len(d["steps"][0]["tokens"])
    (tmp_path / "v1.json").write_text(json.dumps(d))
    with pytest.raises(TraceFormatError, match=r"steps\[0\] has unknown fields: ranks"):
        Trace.load(tmp_path / "v1.json")
