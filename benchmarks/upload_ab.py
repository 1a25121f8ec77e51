"""Upload → first paint, this checkout against another (e.g. the commit before the packed payload), interleaved.

    git worktree add /tmp/base <commit>        # or: mkdir /tmp/base && git archive <commit> | tar -x -C /tmp/base
    OMP_NUM_THREADS=1 python -m benchmarks.upload_ab --base /tmp/base      # docs/benchmarks.md, "Browser player"

Serves the app of each checkout in its own process (`benchmarks.browser`'s server, limits raised), opens one page
on each in one chromium, and uploads the same run (benchmarks/browser.py's cached N = 64 pair by default) into
them in turn, A B B A A B …, so both sides see the same load (between two, the small N = 8 run, untimed: the page
ignores an upload of the files it shows). Per upload it reports `benchmarks.browser.upload`'s
times (file chosen → painted, payload → painted, longest task) and the renderer's main-thread CPU time for it
(CDP Performance.getMetrics `TaskDuration`, file chosen → painted: Gradio's work on the payload and the
player's together): on a busy box the CPU time is the figure to compare, wall clock swings with the load.
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks import browser as bench

SERVE = ("import time, torch; torch.set_num_threads(1); from benchmarks.browser import serve; "
         "print('URL', serve(), flush=True); time.sleep(10**6)")


def start_server(checkout: Path) -> tuple[subprocess.Popen, str]:
    """`benchmarks.browser.serve()` of `checkout` in a process of its own; the process and its URL."""
    proc = subprocess.Popen([sys.executable, "-c", SERVE], cwd=checkout, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("URL "):
            return proc, line.split()[1]
    raise RuntimeError(f"the app of {checkout} did not start (exit code {proc.wait()})")


def task_seconds(cdp) -> float:
    """The renderer main thread's CPU time so far (CDP Performance metric TaskDuration, seconds)."""
    return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "TaskDuration")


def timed_upload(page, cdp, files: list[Path], steps: int) -> dict:
    before = task_seconds(cdp)
    out = bench.upload(page, files, steps)
    return {**out, "renderer_cpu_ms": round(1000 * (task_seconds(cdp) - before), 1)}


def main(argv: list[str] | None = None) -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, required=True, help="the other checkout (side B)")
    ap.add_argument("--case", default="N64-L112-T64", choices=list(bench.CASES))
    ap.add_argument("--pairs", type=int, default=6, help="uploads per side")
    args = ap.parse_args(argv)
    runs = bench.record_runs(False)
    files, other = runs[args.case], runs["N8-L64-T64"]
    steps = bench.CASES[args.case]["steps"]
    sides = {"this": bench.REPO, "base": args.base.resolve()}
    commits = {name: subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=path, capture_output=True,
                                    text=True).stdout.strip() or "?" for name, path in sides.items()}
    servers = {name: start_server(path) for name, path in sides.items()}
    load_before = bench.load_average()
    print(f"load average: {load_before}", flush=True)
    results = {name: [] for name in sides}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=bench.CHROMIUM, args=bench.ARGS)
            pages = {}
            for name, (_, url) in servers.items():
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.set_default_timeout(180_000)
                page.goto(url)
                page.wait_for_selector(f'{bench.PLAYER}[data-state="ready"]')
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                pages[name] = (page, cdp)
            order = [name for i in range(args.pairs) for name in (("this", "base") if i % 2 == 0 else ("base", "this"))]
            for name in order:
                page, cdp = pages[name]
                page.bring_to_front()  # a page in the background gets fewer animation frames
                results[name].append(timed_upload(page, cdp, files, steps))
                bench.upload(page, other, bench.CASES["N8-L64-T64"]["steps"])
                print(name, json.dumps(results[name][-1]), bench.load_average(), flush=True)
            browser.close()
    finally:
        for proc, _ in servers.values():
            proc.terminate()
    print(f"\nmachine: {bench.machine()}; case {args.case}; load average before {load_before}, "
          f"after {bench.load_average()}\n")
    keys = ["click_to_painted_ms", "arrived_to_painted_ms", "longest_task_ms", "renderer_cpu_ms"]
    print("| side (commit) | " + " | ".join(f"{k}: median [min, max]" for k in keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, rows in results.items():
        cells = [f"{statistics.median(r[k] for r in rows):,.0f} [{min(r[k] for r in rows):,.0f}, "
                 f"{max(r[k] for r in rows):,.0f}]" for k in keys]
        print(f"| {name} ({commits[name]}) | " + " | ".join(cells) + " |")
    ratio = statistics.median(r["renderer_cpu_ms"] for r in results["this"]) / statistics.median(
        r["renderer_cpu_ms"] for r in results["base"])
    print(f"\nrenderer CPU time, this / base (medians): {ratio:.2f}")


if __name__ == "__main__":
    main()
