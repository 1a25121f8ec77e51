"""app.py's command line: a user mistake is one line on stderr and exit code 2, before anything loads."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args, message", [
    (["--threads", "-1"], "argument --threads: '-1': must be a whole number in [0, 1024]"),
    (["--port", "99999"], "argument --port: '99999': must be a whole number in [1, 65535]"),
    (["--port", "http"], "argument --port: 'http': must be a whole number in [1, 65535]"),
    (["--max-cost", "0"], "argument --max-cost: '0': must be a whole number in [1, 9007199254740991]"),
    (["--max-concurrent-runs", "0"], "argument --max-concurrent-runs: '0': must be a whole number in [1, 64]"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_user_mistakes_are_one_line_with_exit_code_2(args, message, capsys):
    import app

    with pytest.raises(SystemExit) as e:
        app.main(args)
    assert e.value.code == 2
    out = capsys.readouterr()
    assert out.err.strip().splitlines() == [f"{Path(sys.argv[0]).name}: error: {message}"] and out.out == ""


def test_the_script_itself_exits_2_with_one_line():
    done = subprocess.run([sys.executable, "app.py", "--threads", "-1"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["app.py: error: argument --threads: '-1': must be a whole number "
                                                "in [0, 1024]"]
