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
])
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
