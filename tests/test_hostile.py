"""The hostile corpus of issue 18 (`tools/hostile_corpus.py`): every case ends in its named error or loads / runs
cleanly, under a memory ceiling a little above what the process holds before the case (so nothing proportional
to a declared size can be allocated), in two subprocesses: one for the trace files, one for the command lines."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.hostile_corpus import cli_cases, trace_cases

REPO = Path(__file__).resolve().parents[1]
HEADROOM = 768 * 2**20  # bytes of address space a case may add to what the process holds after its imports

# Runs in a subprocess: imports, then the ceiling, then each case; prints one JSON line per case.
HARNESS = r"""
import contextlib, io, json, resource, sys, time
from pathlib import Path
{imports}
size = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + {headroom}, size + {headroom}))
for name, target in json.loads(sys.stdin.read()):
    cpu = time.process_time()
    error, err = None, io.StringIO()
    try:
{body}
    except MemoryError:
        error = "MemoryError"
    print(json.dumps({{"name": name, "error": error, "cpu": time.process_time() - cpu}}), flush=True)
"""

TRACES = dict(imports="from explorer import io as trace_io\nfrom explorer.limits import Limits\nimport sampler.config",
              body="""\
        try:
            trace_io.load_traces([target], Limits())
        except ValueError as e:
            error = str(e)""")

CLI = dict(imports="from sampler.__main__ import main", body="""\
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                main(target.split("\\0"))
            except SystemExit as e:
                error = f"exit {e.code}: {err.getvalue()}" if e.code else None""")


def run_cases(harness: dict, cases, timeout: int) -> dict:
    script = HARNESS.format(headroom=HEADROOM, **harness)
    out = subprocess.run([sys.executable, "-c", script], input=json.dumps([(c.name, c.target) for c in cases]),
                         capture_output=True, text=True, cwd=REPO, timeout=timeout,
                         env={"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                              "PATH": "/usr/bin:/bin"})
    results = {r["name"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert len(results) == len(cases), out.stderr[-3000:]
    return results


def test_every_hostile_trace_file_is_refused_by_name_or_loads(tmp_path):
    cases = trace_cases(tmp_path)
    results = run_cases(TRACES, cases, timeout=300)
    for case in cases:
        got = results[case.name]
        if case.expect is None:
            assert got["error"] is None, (case.name, got)
        else:
            assert got["error"] is not None and re.search(case.expect, got["error"]), (case.name, got)
            assert got["error"] != "MemoryError"
        assert got["cpu"] < 3, (case.name, got["cpu"])  # server CPU per upload ≤ 3 s (generous on a busy box)


def test_every_hostile_command_line_ends_in_one_line_and_exit_2(tmp_path):
    tiny = tmp_path / "tiny-mdlm"
    subprocess.run([sys.executable, "-m", "tests.fixtures.tiny_models", "--family", "mdlm", "--out", str(tiny)],
                   cwd=REPO, check=True, capture_output=True, timeout=120)
    cases = cli_cases(tmp_path / "cli", tiny)
    results = run_cases(CLI, cases, timeout=300)
    for case in cases:
        error = results[case.name]["error"]
        assert error is not None and error.startswith("exit 2: python -m sampler: error: "), (case.name, error)
        assert error.count("\n") == 1 and "Traceback" not in error, (case.name, error)
        assert re.search(case.expect, error), (case.name, error)


@pytest.mark.parametrize("flag", ["--max-particles", "--max-cost", "--max-gen-length"])
def test_app_flags_over_their_range_are_refused_in_one_line(flag, capsys):
    import app

    with pytest.raises(SystemExit) as stop:
        app.main([flag, str(10**30)])  # refused while parsing, before any model loads
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert f"argument {flag}: '{10**30}': must be a whole number in" in err
