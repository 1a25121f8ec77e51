// The player: one cursor drives every view of the loaded runs, all in the browser.
//
// `load(payload)` replays the runs once (data.js) and draws every view at the last step; `show(t)` moves the
// cursor and each view restyles what changed. Renders never overlap: the cursor may run ahead (key presses,
// playback) and the loop catches up; the root's `data-step` is set after every view has drawn a step.
import { buildRun } from "./data.js";
import { repetition } from "./repeat.js";
import { Canvas } from "./canvas.js";
import { Tree } from "./tree.js";
import { Ess } from "./ess.js";
import { Weights } from "./weights.js";
import { Heatmap } from "./heatmap.js";
import { families } from "./charts.js";
import { readView, viewLink, writeView } from "./link.js";
import { renderAnswer } from "./answer.js";
import { renderWhy } from "./why.js";
import { Lens } from "./lens.js";
import { Alternatives } from "./alternatives.js";
import { el, setChildren } from "./dom.js";
import { ancestry } from "./data.js";
import { Compare } from "./compare.js";

const ROLES = ["sr-smc", "best-of-n", "greedy"];
const SPEEDS = [1, 2, 4, 8, 16];

export class Player {
  constructor(host) {
    const $ = (id, tag = "div", attrs = {}, kids = []) => el(tag, { id: `srp-${id}`, ...attrs }, kids);
    this.slider = $("slider", "input", { type: "range", min: 0, max: 0, value: 0, step: 1, "aria-label": "step",
      "aria-keyshortcuts": "ArrowLeft ArrowRight Home End" });
    this.prev = $("prev", "button", { type: "button", title: "previous step (←)" }, "‹ prev");
    this.playBtn = $("play", "button", { type: "button", title: "play / pause (space)" }, "▶ Play");
    this.next = $("next", "button", { type: "button", title: "next step (→)" }, "next ›");
    this.speed = $("speed", "select", { "aria-label": "speed" },
      SPEEDS.map((s) => el("option", { value: s, selected: s === 4 }, `${s} steps/s`)));
    // the label sits in its own fixed box: its text never changes the slider's width
    this.stepText = el("span", { class: "srp-stepnum" }, "step 0 / 0");
    this.stepFlag = el("span", { class: "srp-stepflag" });
    this.label = $("step-label", "span", { class: "srp-steplabel", "aria-hidden": "true" }, [this.stepText, this.stepFlag]);
    this.linkBtn = $("copy-link", "button", { type: "button", title: "copy a link to this view (step, focus, toggles)" }, "copy link");
    this.branchBtn = $("branch", "button", { type: "button", hidden: true,
      title: "continue this run after the step shown with the run panel's changed settings, and compare" },
      "branch here");
    this.helpBtn = $("help", "button", { type: "button", title: "keyboard shortcuts (?)", "aria-haspopup": "dialog" }, "? keys");
    this.linkNote = $("link-note", "div", { class: "srp-linknote", role: "status", "aria-live": "polite" });
    this.help = $("keyhelp", "div", { class: "srp-keyhelp", role: "dialog", "aria-label": "keyboard shortcuts", hidden: true }, [
      el("h3", {}, "Keys"), el("div", { class: "srp-scroll" }, el("table", {}, el("tbody", {}, KEYS.map(([k, what]) =>
        el("tr", {}, [el("th", { scope: "row" }, k), el("td", {}, what)]))))),
      el("button", { type: "button", class: "srp-close" }, "close (Esc)")]);
    this.runPick = $("run-pick", "select", { "aria-label": "run shown on the canvas" });
    this.particlePick = $("particle", "select", { "aria-label": "particle in focus" });
    this.markInh = $("mark-inherited", "select", { "aria-label": "inherited marks" }, [
      el("option", { value: "step", selected: true }, "inherited at this step"),
      el("option", { value: "all" }, "inherited (ever)"), el("option", { value: "off" }, "no inherited marks")]);
    this.markRep = $("mark-repeats", "input", { type: "checkbox", checked: true });
    this.root = $("player", "div", { class: "srp-player", "data-step": 0, "data-steps": 0, "data-state": "empty" }, [
      el("div", { class: "srp-banner", id: "srp-banner" }),
      $("answer", "section", { class: "srp-panel" }),
      $("compare", "section", { class: "srp-panel srp-compare" }),
      el("section", { class: "srp-panel srp-whybox" }, [$("why"), $("why-weights", "div", { class: "srp-chart" })]),
      el("div", { class: "srp-transport" }, [this.prev, this.playBtn, this.next, this.slider, this.label, this.speed,
        this.linkBtn, this.branchBtn, this.helpBtn, this.linkNote]),
      this.help,
      el("div", { class: "srp-grid" }, [
        el("section", { class: "srp-panel srp-canvasbox" }, [
          el("div", { class: "srp-canvasbar" }, [this.runPick, this.particlePick, this.markInh,
            el("label", {}, [this.markRep, " repeated n-grams"])]),
          legend(), $("alternatives", "div", { class: "srp-alts", tabindex: 0, role: "region",
            "aria-label": "alternatives of the hovered or pinned cell" }),
          $("canvas", "div", { class: "srp-canvas", tabindex: 0, role: "region", "aria-label": "token canvas" })]),
        el("div", { class: "srp-charts" }, [$("tree", "div", { class: "srp-chart" }), $("tree-note", "p", { class: "srp-hint" }),
          $("ess", "div", { class: "srp-chart" }), $("ess-note", "p", { class: "srp-hint" })])]),
      el("div", { class: "srp-grid2" }, [el("div", {}, [$("weights-caption", "div", { class: "srp-caption" }),
        $("weights", "div", { class: "srp-chart srp-weightsbox" })]), $("heatmap", "div", { class: "srp-chart" })]),
      $("lens", "section", { class: "srp-panel" }),
    ]);
    host.replaceChildren(this.root);
    const q = (id) => this.root.querySelector(`#srp-${id}`);
    const seekTo = (t) => { this.userMoved(); this.show(t); };
    this.canvas = new Canvas(q("canvas"));
    this.alternatives = new Alternatives(q("alternatives"), this.canvas);
    this.tree = new Tree(q("tree"), q("tree-note"), seekTo);
    this.ess = new Ess(q("ess"), q("ess-note"), seekTo);
    this.weights = new Weights(q("weights"), q("weights-caption"));
    this.heat = new Heatmap(q("heatmap"), seekTo);
    this.lens = new Lens(q("lens"));
    this.compare = new Compare(q("compare"));
    this.els = { answer: q("answer"), why: q("why"), whyChart: q("why-weights"), banner: this.root.querySelector("#srp-banner") };
    this.panels = [...this.root.children].filter((c) => c !== this.els.banner);
    this.cursor = 0; this.shown = -1; this.rendering = false; this.playing = false; this.main = null;
    this.example = null;
    this.pendingView = readView();  // a link's view, applied when its runs arrive
    this.root.srp = this;
    this.wire();
  }

  get step() { return this.shown; }
  get steps() { return this.main ? this.main.T : 0; }

  wire() {
    const user = (f) => () => { this.userMoved(); f(); };
    this.slider.addEventListener("input", user(() => this.show(Number(this.slider.value))));
    this.prev.addEventListener("click", user(() => this.show(this.cursor - 1)));
    this.next.addEventListener("click", user(() => this.show(this.cursor + 1)));
    this.playBtn.addEventListener("click", user(() => (this.playing ? this.pause() : this.play())));
    this.speed.addEventListener("change", () => { if (this.playing) this.play(true); });
    this.runPick.addEventListener("change", user(() => { this.loadCanvas(); this.saveView(); }));
    this.particlePick.addEventListener("change", user(() => this.setFocus(Number(this.particlePick.value))));
    this.markInh.addEventListener("change", user(() => { this.canvas.inheritMode = this.markInh.value; this.canvas.redraw(); this.saveView(); }));
    this.markRep.addEventListener("change", user(() => { this.canvas.showRepeats = this.markRep.checked; this.canvas.redraw(); this.saveView(); }));
    this.linkBtn.addEventListener("click", () => this.copyLink());
    this.branchBtn.addEventListener("click", () => this.onBranch && this.onBranch(this.shown));
    this.helpBtn.addEventListener("click", () => this.toggleHelp(true));
    this.help.querySelector(".srp-close").addEventListener("click", () => this.toggleHelp(false));
    // step numbers in the tables (why-★, lens) are buttons that move the cursor
    this.root.addEventListener("click", (e) => {
      const b = e.target.closest && e.target.closest(".srp-seek");
      if (b && this.root.contains(b)) { this.userMoved(); this.show(Number(b.dataset.step)); }
    });
    this.onKey = (e) => {
      if (!this.root.isConnected) { document.removeEventListener("keydown", this.onKey); return; }
      if (e.key === "Escape" && !this.help.hidden) { this.toggleHelp(false); e.preventDefault(); return; }
      if (e.key === "Escape" && this.alternatives.unpin()) { e.preventDefault(); return; }
      const tag = (e.target.tagName || "").toLowerCase();
      if (["input", "textarea", "select"].includes(tag) || e.target.isContentEditable || !this.main) return;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if ((e.key === " " || e.key === "Enter") && tag === "button") return;
      const T = this.main.T, c = this.cursor;
      const go = (t) => { if (t !== null && t !== undefined) { this.userMoved(); this.show(t); } };
      if (e.key === "ArrowLeft") go(c - 1);
      else if (e.key === "ArrowRight") go(c + 1);
      else if (e.key === "Home") go(0);
      else if (e.key === "End") go(T);
      else if (e.key === "]") go(nextWhere(c, T, (s) => this.main.resampled[s] && s < T, 1));
      else if (e.key === "[") go(nextWhere(c, T, (s) => this.main.resampled[s] && s < T, -1));
      else if (e.key === "l" || e.key === "L") go(nextWhere(c, T, (s) => this.loopSteps().has(s), e.key === "l" ? 1 : -1));
      else if (e.key === " ") { this.userMoved(); this.playing ? this.pause() : this.play(); }
      else if (e.key === "?") this.toggleHelp(this.help.hidden);
      else return;
      e.preventDefault();
    };
    document.addEventListener("keydown", this.onKey);
  }

  /** The user moved the view: a link's view that has not been applied yet no longer wins over it. */
  userMoved() { this.pendingView = null; }

  toggleHelp(open) {
    this.help.hidden = !open;
    if (open) this.help.querySelector(".srp-close").focus(); else if (this.root.contains(document.activeElement)) this.helpBtn.focus();
  }

  /** Steps at which ★'s line (or, before the end, any particle) closed a repeated n-gram (cached per load). */
  loopSteps() {
    if (this.loops_) return this.loops_;
    const run = this.main, reps = this.repsOf(run), { N, G, T } = run, out = new Set();
    const path = run.final ? ancestry(run, run.chosen) : null;
    for (let t = 1; t <= T; t++) for (let k = path ? path[t] : 0; k < (path ? path[t] + 1 : N); k++) {
      const o = (t * N + k) * G;
      for (let g = 0; g < G; g++) if (run.commit[o + g] === t && reps.first[o + g] >= 0) { out.add(t); break; }
    }
    return (this.loops_ = out);
  }

  /** Load a payload (see explorer/payload.py); null or no runs empties the player. The runs are unpacked and
   *  replayed, then the views built, with a yield to the page between these phases (a progress line meanwhile), so
   *  a large upload is several short tasks, not one long one. A newer load started meanwhile wins. If the runs cannot
   *  be drawn, the player says so and shows nothing else: never the runs it showed before under the new ones' name. */
  async load(payload) {
    const token = (this.loadToken = {});
    try {
      await this.loadNow(payload, token);
    } catch (e) {
      this.error = e;
      if (this.loadToken === token) this.fail(e);
    } finally {
      if (this.loadToken === token) this.loading = false;
    }
  }

  /** Drop every run and view and say why (a draw failed): the banner holds the message, the panels are hidden. */
  fail(e) {
    this.pause();
    this.main = null; this.runs = {};
    this.root.dataset.state = "error"; this.root.dataset.steps = 0; this.root.dataset.step = 0;
    for (const p of this.panels) p.style.display = "none";
    this.els.banner.replaceChildren(el("div", { class: "srp-error", role: "alert" }, "These runs could not be drawn " +
      `in this browser (${(e && e.message) || e}), so no step of them is shown. The trace files are unchanged.`));
    console.error(e);
  }

  async loadNow(payload, token) {
    const stale = () => this.loadToken !== token;
    const runs = payload && payload.runs ? payload.runs : {};
    const roles = ROLES.filter((r) => runs[r]);
    const live = Boolean(payload && payload.live);
    const follow = !this.main || this.cursor >= this.main.T || !live;
    const notes = ((payload && payload.notes) || []).map((n) => el("div", {}, n));
    const progress = (text) => this.els.banner.replaceChildren(...notes, ...(text ? [el("div", { class: "srp-progress" }, text)] : []));
    this.pause();
    this.loading = true;
    this.example = (payload && payload.example) || null;
    for (const p of this.panels) p.style.display = "";  // shown again after a failed load
    progress("");
    if (!roles.length) {
      this.main = null; this.runs = {}; this.loading = false; this.compare.load(null);
      this.root.dataset.state = "empty"; this.root.dataset.steps = 0;
      this.els.answer.replaceChildren(el("p", {}, "Nothing loaded yet: press Run, load an example or upload a trace."));
      return;
    }
    const big = roles.reduce((a, r) => a + runs[r].steps.n * (runs[r].config.n_particles || 1), 0) > 512;
    const phase = async (text) => { if (big) { progress(`Loading: ${text}…`); await yieldToPage(); } return stale(); };
    if (big) this.root.dataset.state = "loading";
    // unpacking and replaying take ~25 ms at N = 64: one phase (each yield costs the page a frame)
    if (await phase(`replaying ${roles.map((r) => runs[r].label || r).join(", ")}`)) return;
    const built = {};
    for (const r of roles) built[r] = buildRun(runs[r]);
    this.runs = built;
    this.reps = {};
    this.loops_ = null;
    this.main = this.runs[roles[0]];
    this.live = live;
    const main = this.main;
    const view = !live && this.pendingView && (!this.pendingView.ex || this.pendingView.ex === this.example) ? this.pendingView : null;
    if (view) this.pendingView = null;
    const keep = view && view.canvas && this.runs[view.canvas] ? view.canvas : this.runPick.value;
    this.runPick.replaceChildren(...roles.map((r) => el("option", { value: r, selected: r === keep }, `canvas: ${this.runs[r].label}`)));
    if (view) {
      if (view.inh) this.markInh.value = view.inh, this.canvas.inheritMode = this.markInh.value;
      if (view.rep !== undefined) this.markRep.checked = view.rep !== "0", this.canvas.showRepeats = this.markRep.checked;
    }
    if (await phase("the answer and the repetition lens")) return;
    if (live) this.els.answer.replaceChildren(el("p", { class: "srp-live" }, `Sampling… ${roles.map((r) =>
      `${this.runs[r].label}: step ${this.runs[r].T}`).join(" · ")}. The answer appears when the run finishes.`));
    else renderAnswer(this.els.answer, this.runs);
    this.compare.load(!live && payload.compare ? payload.compare : null);
    renderWhy(this.els.why, this.els.whyChart, live ? null : main);
    this.slider.max = main.T;
    const f = view ? Number(view.f) : NaN;
    this.focus = Number.isInteger(f) && f >= 0 && f < main.N ? f : main.final ? main.chosen : 0;
    this.ess.load(main, this.repsOf(main));
    this.lens.load(main, this.repsOf(main), this.runs, (r) => this.repsOf(r));
    if (await phase("the genealogy and the charts")) return;
    this.loadFocus();
    if (await phase("the token canvas")) return;
    this.loadCanvas(false);
    this.root.dataset.state = live ? "live" : "ready";
    this.root.dataset.steps = main.T;
    progress("");
    this.loading = false;
    this.shown = -1;
    const t = view && view.t !== undefined && Number.isFinite(Number(view.t)) ? Number(view.t)
      : this.compare.runs.length ? payload.compare.start : follow ? main.T : Math.min(this.cursor, main.T);
    this.show(t);
  }

  repsOf(run) {
    if (!this.reps[run.role]) this.reps[run.role] = repetition(run);
    return this.reps[run.role];
  }

  loadFocus() {
    const run = this.main;
    setChildren(this.particlePick, [...Array(run.N).keys()].map((k) => el("option", { value: k, selected: k === this.focus },
      `focus: particle ${k}` + (run.final && k === run.chosen ? " ★" : ""))));
    this.tree.load(run, this.focus);
    this.weights.load(run, this.focus);
    this.heat.load(run, this.focus);
  }

  loadCanvas(redraw = true) {
    const run = this.runs[this.runPick.value] || this.main;
    this.canvas.load(run, this.repsOf(run), run === this.main ? this.focus : null);
    if (redraw) { this.shown = -1; this.show(this.cursor); }
  }

  /** A new focus particle restyles the views that show it (lineage, outline, row order) at once; the heatmap,
   *  that particle's own chart (a Plotly figure: the slowest part), is rebuilt in the next task, after the
   *  restyled views have painted. */
  setFocus(k) {
    if (!this.main || k === this.focus) return;
    this.focus = k;
    this.particlePick.value = String(k);
    this.tree.setFocus(k, false);
    this.weights.setFocus(k);
    if (this.canvas.run === this.main) this.canvas.focus = k;
    this.shown = -1;
    this.show(this.cursor);
    clearTimeout(this.heatTimer);
    const main = this.main;
    this.heatTimer = setTimeout(() => {
      if (this.main !== main || this.focus !== k) return;
      this.heat.load(main, k);
      this.heat.show(Math.max(this.shown, 0));
      this.saveView();
    }, 0);
    this.saveView();
  }

  /** Move the cursor to step t (clamped) and draw it once the previous draw is done. */
  show(t) {
    if (!this.main || this.loading) return;
    this.cursor = Math.min(Math.max(Math.round(t), 0), this.main.T);
    this.slider.value = this.cursor;
    if (!this.rendering) this.render();
  }

  /** Draw steps until the step shown is the cursor. Every view draws synchronously (a Plotly fallback may
   *  return promises: then the loop waits for them), so `data-step` is set in the same task as the input. */
  render() {
    this.rendering = true;
    try {
      while (this.main && this.shown !== this.cursor) {
        const t = this.cursor, run = this.main;
        this.canvas.show(t);
        const fam = families(run, t);
        this.weights.show(t, fam.particles);
        this.lens.show(t);
        this.compare.show(t, run.T);
        const pending = [...this.tree.show(t, fam), this.ess.show(t), ...this.heat.show(t)].filter(Boolean);
        if (pending.length) {
          const main = this.main;
          Promise.all(pending).then(() => {
            if (this.main === main) this.drawn(t);  // a new payload meanwhile: its own draw follows
            this.render();
          }, (e) => {
            this.rendering = false;
            if (this.main === main) this.fail(e); else this.render();
          });
          return;
        }
        this.drawn(t);
      }
      this.rendering = false;
    } catch (e) {
      this.rendering = false;
      this.fail(e);
    }
  }

  drawn(t) {
    const run = this.main, flag = run.resampled[t] && t < run.T ? "resampled" : "";
    this.shown = t;
    this.stepText.textContent = `step ${t} / ${run.T}`;
    this.stepFlag.textContent = flag ? "· resampled" : this.live ? "· sampling…" : "";
    this.stepFlag.className = "srp-stepflag" + (flag ? " srp-resampled" : "");
    this.slider.setAttribute("aria-valuetext", `step ${t} of ${run.T}` + (flag ? ", resampled" : "") + (this.live ? ", sampling" : ""));
    this.root.dataset.step = t;
    this.branchBtn.hidden = !this.onBranch || !run.final || t >= run.T;
    this.saveView();
  }

  /** The view this player shows, as the link's fields. */
  view() {
    const v = { t: this.shown, f: this.focus, canvas: this.runPick.value, inh: this.markInh.value, rep: this.markRep.checked ? "1" : "0" };
    if (this.example) v.ex = this.example;
    return v;
  }

  /** Keep the page's URL on the view shown (debounced; not while a link's view waits for its runs). */
  saveView() {
    clearTimeout(this.saveTimer);
    if (this.pendingView || !this.main || this.live) return;
    this.saveTimer = setTimeout(() => writeView(this.view()), 250);
  }

  async copyLink() {
    if (!this.main) return;
    this.userMoved();
    writeView(this.view());
    const url = viewLink(this.view());
    let copied = false;
    try { await navigator.clipboard.writeText(url); copied = true; } catch (e) { copied = false; }
    const what = `step ${this.shown}, focus particle ${this.focus}`;
    const text = this.example ? `${copied ? "Link copied" : "Link (copy it from the address bar)"}: bundled example ` +
        `“${this.example}” at ${what}. Opening it shows this view.`
      : `${copied ? "Link copied" : "Link in the address bar"}: it holds the view (${what}, toggles), not the data. ` +
        "This run was uploaded or sampled here, so whoever opens the link must load the same trace file to see it.";
    this.linkNote.replaceChildren(el("span", {}, text + " "), el("input", { type: "text", readonly: true, value: url,
      "aria-label": "link to this view", class: "srp-linkurl" }));
    this.linkNote.dataset.url = url;
  }

  /** Play from the cursor at the chosen speed, drawing every step it counts: when a draw is slow, playback slows
   *  down instead of skipping steps. */
  play(restart = false) {
    if (!this.main) return;
    if (!restart && this.shown >= this.main.T) this.show(0);
    this.playing = true;
    this.playBtn.textContent = "⏸ Pause";
    const period = 1000 / Number(this.speed.value);
    let due = performance.now() + period;
    const token = (this.playToken = {});
    const tick = (now) => {
      if (!this.playing || this.playToken !== token) return;
      if (this.shown >= this.main.T) { this.pause(); return; }
      if (now >= due && !this.rendering && this.shown === this.cursor) {
        this.show(this.shown + 1);
        due = Math.max(due + period, now - period / 2);  // behind by more than half a step: slow down, never skip
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  /** Stop playback on the step shown. */
  pause() {
    this.playing = false;
    this.playToken = null;
    this.playBtn.textContent = "▶ Play";
    if (this.main && this.shown >= 0 && !this.rendering) this.cursor = this.shown, this.slider.value = this.shown;
  }
}

const KEYS = [["← →", "previous / next step"], ["Home End", "first / last step"], ["[ ]", "previous / next resampling step"],
  ["l L", "next / previous step where ★'s line closed a repeated n-gram (a loop)"], ["space", "play / pause"],
  ["?", "this help"], ["Esc", "close it, or unpin the pinned cell"]];

/** The nearest step after (dir = 1) or before (dir = -1) step c in [0, T] where `pred` holds, or null. */
function nextWhere(c, T, pred, dir) {
  for (let s = c + dir; s >= 0 && s <= T; s += dir) if (pred(s)) return s;
  return null;
}

/** Let the page paint and handle input before the next piece of work. */
function yieldToPage() {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function legend() {
  const sw = (cls, text, style = "") => el("span", { class: "srp-key" }, [el("span", { class: `srp-cell ${cls}`, style }, "ab"), text]);
  const fill = "background-color:#5EC962;color:#000";
  return el("div", { class: "srp-legend" }, [
    el("span", { class: "srp-key" }, ["confidence p: 0", el("span", { class: "srp-bar" }), "1"]),
    el("span", { class: "srp-key" }, [el("span", { class: "srp-cell srp-m" }), "masked"]),
    sw("srp-now", "committed at this step", fill), sw("srp-inh", "inherited through resampling", fill),
    sw("srp-rep", "inside a repeated n-gram", fill), sw("srp-rep srp-close", "closes a repeat (corner)", fill),
    el("span", { class: "srp-key" }, "★ = the sampler's answer; its row (or its ancestor's) comes first"),
  ]);
}

/** Gradio entry: `element` is the gr.HTML root; the payload is `props.value`. */
export function mountGradio(element, props, watch) {
  const host = element.querySelector(".srp-mount") || element;
  const player = new Player(host);
  // "branch here" asks the server through the page's hidden step box and button (explorer/ui.py)
  player.onBranch = (t) => {
    const box = document.querySelector("#sx-branch-step textarea, #sx-branch-step input");
    const button = document.getElementById("sx-branch-btn");
    if (!box || !button) return;
    box.value = String(t);
    box.dispatchEvent(new Event("input", { bubbles: true }));
    setTimeout(() => button.click(), 0);
  };
  player.load(props.value);
  watch("value", () => player.load(props.value));
  return player;
}

/** Standalone page entry (the HTML export). */
export function mountStatic(host, payload) {
  const player = new Player(host);
  player.load(payload);
  return player;
}
