"""The player's "branch here" in the app, in real headless Chromium: a refusal names the setting and loses nothing;
a branch of bundled example 2 at step 20 with no-repeat 4 opens the compare view at its branch step, the shared
prefix once; the compare view fits 1440x900 and 390x844. Screenshots: test-output/branch-compare-*.png.

Uses the `browser` fixture of tests/test_app_e2e.py and the `app_url` server of tests/conftest.py.
"""
import re
from pathlib import Path

from tests.test_app_e2e import PLAYER, TIMEOUT_MS, browser  # noqa: F401 (a fixture)
from tests.test_app_layout import open_every_group

OUT = Path(__file__).resolve().parents[1] / "test-output"
EXAMPLE, STEP = "2-low-temperature-n4", 20


def set_number(page, elem_id: str, value: int) -> None:
    field = page.locator(f"#{elem_id} input[type=number]")
    field.fill(str(value))
    field.press("Tab")


def test_branch_here_compares_the_run_and_its_branch(browser, app_url):  # noqa: F811
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(f"{app_url}/#ex={EXAMPLE}&t={STEP}")
        page.wait_for_selector(f'{PLAYER}[data-state="ready"][data-step="{STEP}"]')
        open_every_group(page)
        # a setting that cannot change mid-run: refused by name, the loaded runs stay
        set_number(page, "sx-block-length", 16)
        page.click("#srp-branch")
        page.wait_for_selector("text=block_length = 16: a branch cannot change it")
        assert page.get_attribute(PLAYER, "data-steps") == "64" and page.locator("#srp-compare").is_hidden()
        set_number(page, "sx-block-length", 32)
        set_number(page, "sx-no-repeat-ngram", 4)
        page.click("#srp-branch")
        page.wait_for_selector(f'#srp-compare[data-steps="{STEP},{STEP}"]')
        assert page.get_attribute(PLAYER, "data-step") == str(STEP)
        heads = page.locator(".srp-cmp-col h4").all_inner_texts()
        assert heads[0].startswith("1. no-repeat off")
        assert heads[1].startswith(f"2. branch at step {STEP} of run 1: no-repeat 4")
        assert page.locator("#srp-cmp-shared").count() == 1
        shared = int(re.search(r"Steps 0–(\d+) are shared by all runs", page.inner_text("#srp-compare")).group(1))
        assert shared >= STEP  # the branch may draw what its parent drew for a while
        assert "no_repeat_ngram 0 → 4" in page.inner_text("#sx-status")
        for width, height in ((1440, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(300)
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            cols = page.evaluate("""() => [...document.querySelectorAll('.srp-cmp-col')].map((c) => {
                const r = c.getBoundingClientRect(), p = c.querySelector('p');
                return {left: r.left, right: r.right, width: r.width, font: parseFloat(getComputedStyle(p).fontSize),
                        clipped: p.scrollWidth > p.clientWidth + 1}; })""")
            assert all(c["left"] >= 0 and c["right"] <= width for c in cols), cols
            readable = [c["font"] >= 12 and not c["clipped"] and c["width"] >= min(300, width / 2 - 40) for c in cols]
            assert all(readable), cols
            page.locator("#srp-compare").scroll_into_view_if_needed()
            page.locator("#srp-compare").screenshot(path=str(OUT / f"branch-compare-{width}x{height}.png"))
        page.set_viewport_size({"width": 1440, "height": 900})
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        for t in (30, 5, 64):  # scrubbing the comparison happens in the browser
            page.fill("#srp-slider", str(t))
            page.wait_for_selector(f'#srp-compare[data-steps="{t},{t}"]')
        assert requests == []
        page.locator("#srp-compare").screenshot(path=str(OUT / "branch-compare-end-1440x900.png"))
    finally:
        page.close()


def test_the_bundled_comparison_opens_at_its_branch_step(browser, app_url):  # noqa: F811
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(f"{app_url}/#ex=2c-branch-before-the-first-loop-no-repeat-4")
        page.wait_for_selector('#srp-compare[data-steps="7,7"]')
        assert "Comparing 2 SR-SMC runs" in page.inner_text("#srp-banner")
        page.locator("#srp-compare").screenshot(path=str(OUT / "branch-compare-example-2c.png"))
    finally:
        page.close()
