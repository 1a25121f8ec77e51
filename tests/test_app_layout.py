"""The page's layout in real headless Chromium, by bounding boxes: the run panel beside the player on desktops,
every control inside the viewport and off the player, every dropdown list clickable; on a phone the answer,
then the player, then the settings; axe-core on the loaded app. Screenshots go to test-output/.

Uses the `browser` fixture of tests/test_app_e2e.py and the `app_url` server of tests/conftest.py.
"""
import json
from pathlib import Path

import pytest

from tests.test_app_e2e import PLAYER, TIMEOUT_MS, browser  # noqa: F401 (a fixture)

OUT = Path(__file__).resolve().parents[1] / "test-output"
AXE = Path(__file__).resolve().parents[1] / ".ci" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
CONTROLS = "input:not([type=hidden]), textarea, button, select, [role=listbox], [role=combobox]"


def open_page(browser, url: str, width: int, height: int):  # noqa: F811 (browser is the fixture)
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector(f'{PLAYER}[data-state="ready"]')
    return page


def open_every_group(page) -> None:
    """Open the run panel's collapsed groups (Gradio accordions) so their controls are laid out."""
    for button in page.locator("#sx-panel .label-wrap").all():
        if "open" not in (button.get_attribute("class") or ""):
            button.click()
    page.wait_for_timeout(300)


def box(page, selector: str) -> dict:
    return page.evaluate("(s) => { const r = document.querySelector(s).getBoundingClientRect(); "
                         "return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; }", selector)


@pytest.mark.parametrize("width, height", [(1280, 720), (1440, 900), (1920, 1080)])
def test_desktop_panel_beside_the_player_every_control_reachable(browser, app_url, width, height):  # noqa: F811
    page = open_page(browser, app_url, width, height)
    try:
        page.screenshot(path=str(OUT / f"layout-{width}x{height}.png"))
        open_every_group(page)
        player = box(page, "#sx-player")
        controls = page.evaluate(f"""() => [...document.querySelectorAll('#sx-panel :is({CONTROLS})')]
            .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
            .map(e => {{ const r = e.getBoundingClientRect();
                return {{name: e.getAttribute('aria-label') || e.id || e.textContent.trim().slice(0, 30) || e.tagName,
                         left: r.left, right: r.right, top: r.top, bottom: r.bottom}}; }})""")
        assert len(controls) >= 20, controls  # every setting, Run, Stop, the example and file controls
        outside = [c["name"] for c in controls if c["left"] < 0 or c["right"] > width]
        assert outside == [], f"controls outside the viewport's width: {outside}"
        over = [c["name"] for c in controls if c["left"] < player["right"] and c["right"] > player["left"]
                and c["top"] < player["bottom"] and c["bottom"] > player["top"]]
        assert over == [], f"controls overlapping the player: {over}"
        panel = page.evaluate("(() => { const p = document.querySelector('#sx-panel'); "
                              "return {sw: p.scrollWidth, cw: p.clientWidth}; })()")
        assert panel["sw"] <= panel["cw"] + 1, "the run panel scrolls sideways"
        # the essentials are laid out in the panel's first screen, nothing to open
        for selector in ("#sx-prompt textarea", "#sx-run", "#sx-stop", "#sx-model input", "#sx-n-particles input",
                         "#sx-temperature input", "#sx-gen-length input", "#sx-steps input",
                         "#sx-block-length input"):
            b = box(page, selector)
            assert b["bottom"] - b["top"] > 0 and b["right"] <= player["left"], selector
        page.screenshot(path=str(OUT / f"layout-{width}x{height}-open.png"))
    finally:
        page.close()


@pytest.mark.parametrize("width, height", [(1280, 720), (1440, 900), (1920, 1080)])
def test_every_dropdown_list_opens_above_the_player_and_takes_a_click(browser, app_url, width, height):  # noqa: F811
    page = open_page(browser, app_url, width, height)
    try:
        open_every_group(page)
        ids = page.evaluate("() => [...document.querySelectorAll('#sx-panel .block')]"
                            ".filter(b => b.id && b.querySelector('[role=listbox], [role=combobox]')).map(b => b.id)")
        assert {"sx-model", "sx-resampling", "sx-example-name"} <= set(ids), ids
        for block in ids:
            field = page.locator(f"#{block} input")
            field.scroll_into_view_if_needed()
            before = field.input_value()
            field.click()
            options = page.locator("[data-testid=dropdown-option]")
            options.first.wait_for()
            texts = [options.nth(i).get_attribute("aria-label") for i in range(options.count())]
            target = next((t for t in texts if t != before), texts[0])
            # Playwright's click fails when another element (the player) would receive it
            options.nth(texts.index(target)).click()
            page.wait_for_timeout(200)
            assert field.input_value() == target, (block, before, target)
            if target != before:  # put it back (the example picker also reloads nothing by itself)
                field.click()
                page.locator(f"[data-testid=dropdown-option][aria-label='{before}']").click()
                page.wait_for_timeout(200)
                assert field.input_value() == before
    finally:
        page.close()


def test_phone_shows_the_answer_then_the_player_then_the_settings(browser, app_url):  # noqa: F811
    page = open_page(browser, app_url, 390, 844)
    try:
        page.screenshot(path=str(OUT / "layout-390x844.png"))
        page.screenshot(path=str(OUT / "layout-390x844-full.png"), full_page=True)
        answer, transport, panel = (box(page, s)["top"] for s in ("#srp-answer", ".srp-transport", "#sx-panel"))
        assert answer < transport < panel
        assert answer < 844, "the answer starts below the first screen"
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        page.close()


def test_the_loaded_app_has_no_serious_axe_violations(browser, app_url):  # noqa: F811
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing: .ci/run installs axe-core with npm")
    page = open_page(browser, app_url, 1440, 900)
    try:
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))""")
        (OUT / "axe-app.json").write_text(json.dumps(result, indent=1))
        bad = [v for v in result if v["impact"] in ("serious", "critical")]  # the page and the player in it
        assert bad == [], json.dumps(bad, indent=1)
    finally:
        page.close()
