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
import { renderAnswer } from "./answer.js";
import { renderWhy } from "./why.js";
import { Lens } from "./lens.js";
import { el, setChildren } from "./dom.js";

const ROLES = ["sr-smc", "best-of-n", "greedy"];
const SPEEDS = [1, 2, 4, 8, 16];

export class Player {
  constructor(host) {
    const $ = (id, tag = "div", attrs = {}, kids = []) => el(tag, { id: `srp-${id}`, ...attrs }, kids);
    this.slider = $("slider", "input", { type: "range", min: 0, max: 0, value: 0, step: 1, "aria-label": "step" });
    this.prev = $("prev", "button", { type: "button", title: "previous step (←)" }, "‹ prev");
    this.playBtn = $("play", "button", { type: "button", title: "play / pause (space)" }, "▶ Play");
    this.next = $("next", "button", { type: "button", title: "next step (→)" }, "next ›");
    this.speed = $("speed", "select", { "aria-label": "speed" },
      SPEEDS.map((s) => el("option", { value: s, selected: s === 4 }, `${s} steps/s`)));
    this.label = $("step-label", "span", { class: "srp-steplabel" }, "step 0 / 0");
    this.runPick = $("run-pick", "select", { "aria-label": "run shown on the canvas" });
    this.particlePick = $("particle", "select", { "aria-label": "particle in focus" });
    this.markInh = $("mark-inherited", "select", { "aria-label": "inherited marks" }, [
      el("option", { value: "step", selected: true }, "inherited at this step"),
      el("option", { value: "all" }, "inherited (ever)"), el("option", { value: "off" }, "no inherited marks")]);
    this.markRep = $("mark-repeats", "input", { type: "checkbox", checked: true });
    this.root = $("player", "div", { class: "srp-player", "data-step": 0, "data-steps": 0, "data-state": "empty" }, [
      el("div", { class: "srp-banner", id: "srp-banner" }),
      $("answer", "section", { class: "srp-panel" }),
      el("section", { class: "srp-panel srp-whybox" }, [$("why"), $("why-weights", "div", { class: "srp-chart" })]),
      el("div", { class: "srp-transport" }, [this.prev, this.playBtn, this.next, this.slider, this.label, this.speed,
        el("span", { class: "srp-keys" }, "← → step · space play/pause")]),
      el("div", { class: "srp-grid" }, [
        el("section", { class: "srp-panel srp-canvasbox" }, [
          el("div", { class: "srp-canvasbar" }, [this.runPick, this.particlePick, this.markInh,
            el("label", {}, [this.markRep, " repeated n-grams"])]),
          legend(), $("canvas", "div", { class: "srp-canvas" })]),
        el("div", { class: "srp-charts" }, [$("tree", "div", { class: "srp-chart" }), $("tree-note", "p", { class: "srp-hint" }),
          $("ess", "div", { class: "srp-chart" }), $("ess-note", "p", { class: "srp-hint" })])]),
      el("div", { class: "srp-grid2" }, [el("div", {}, [$("weights-caption", "div", { class: "srp-caption" }),
        $("weights", "div", { class: "srp-chart srp-weightsbox" })]), $("heatmap", "div", { class: "srp-chart" })]),
      $("lens", "section", { class: "srp-panel" }),
    ]);
    host.replaceChildren(this.root);
    const q = (id) => this.root.querySelector(`#srp-${id}`);
    this.canvas = new Canvas(q("canvas"));
    this.tree = new Tree(q("tree"), q("tree-note"));
    this.ess = new Ess(q("ess"), q("ess-note"));
    this.weights = new Weights(q("weights"), q("weights-caption"));
    this.heat = new Heatmap(q("heatmap"));
    this.lens = new Lens(q("lens"));
    this.els = { answer: q("answer"), why: q("why"), whyChart: q("why-weights"), banner: this.root.querySelector("#srp-banner") };
    this.panels = [...this.root.children].filter((c) => c !== this.els.banner);
    this.cursor = 0; this.shown = -1; this.rendering = false; this.playing = false; this.main = null;
    this.root.srp = this;
    this.wire();
  }

  get step() { return this.shown; }
  get steps() { return this.main ? this.main.T : 0; }

  wire() {
    this.slider.addEventListener("input", () => this.show(Number(this.slider.value)));
    this.prev.addEventListener("click", () => this.show(this.cursor - 1));
    this.next.addEventListener("click", () => this.show(this.cursor + 1));
    this.playBtn.addEventListener("click", () => (this.playing ? this.pause() : this.play()));
    this.speed.addEventListener("change", () => { if (this.playing) this.play(true); });
    this.runPick.addEventListener("change", () => this.loadCanvas());
    this.particlePick.addEventListener("change", () => this.setFocus(Number(this.particlePick.value)));
    this.markInh.addEventListener("change", () => { this.canvas.inheritMode = this.markInh.value; this.canvas.redraw(); });
    this.markRep.addEventListener("change", () => { this.canvas.showRepeats = this.markRep.checked; this.canvas.redraw(); });
    this.onKey = (e) => {
      if (!this.root.isConnected) { document.removeEventListener("keydown", this.onKey); return; }
      const tag = (e.target.tagName || "").toLowerCase();
      if (["input", "textarea", "select"].includes(tag) || e.target.isContentEditable || !this.main) return;
      if (e.key === " " && tag === "button") return;
      if (e.key === "ArrowLeft") this.show(this.cursor - 1);
      else if (e.key === "ArrowRight") this.show(this.cursor + 1);
      else if (e.key === " ") this.playing ? this.pause() : this.play();
      else return;
      e.preventDefault();
    };
    document.addEventListener("keydown", this.onKey);
  }

  /** Load a payload (see explorer/payload.py); null or no runs empties the player. If the runs cannot be drawn,
   *  the player says so and shows nothing else: never the runs it showed before under the new ones' name. */
  load(payload) {
    try {
      this.loadRuns(payload);
    } catch (e) {
      this.fail(e);
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

  loadRuns(payload) {
    const runs = payload && payload.runs ? payload.runs : {};
    const roles = ROLES.filter((r) => runs[r]);
    const live = Boolean(payload && payload.live);
    const follow = !this.main || this.cursor >= this.main.T || !live;
    this.pause();
    this.main = null; this.runs = {};  // a failure below leaves nothing of the previous runs on show
    for (const p of this.panels) p.style.display = "";
    setChildren(this.els.banner, ((payload && payload.notes) || []).map((n) => el("div", {}, n)));
    if (!roles.length) {
      this.root.dataset.state = "empty"; this.root.dataset.steps = 0;
      this.els.answer.replaceChildren(el("p", {}, "Nothing loaded yet: press Run, load an example or upload a trace."));
      return;
    }
    this.runs = Object.fromEntries(roles.map((r) => [r, buildRun(runs[r])]));
    this.reps = {};
    this.main = this.runs[roles[0]];
    this.live = live;
    this.root.dataset.state = live ? "live" : "ready";
    this.root.dataset.steps = this.main.T;
    const keep = this.runPick.value;
    this.runPick.replaceChildren(...roles.map((r) => el("option", { value: r, selected: r === keep }, `canvas: ${this.runs[r].label}`)));
    if (live) this.els.answer.replaceChildren(el("p", { class: "srp-live" }, `Sampling… ${roles.map((r) =>
      `${this.runs[r].label}: step ${this.runs[r].T}`).join(" · ")}. The answer appears when the run finishes.`));
    else renderAnswer(this.els.answer, this.runs);
    renderWhy(this.els.why, this.els.whyChart, live ? null : this.main);
    this.slider.max = this.main.T;
    this.focus = this.main.final ? this.main.chosen : 0;
    this.ess.load(this.main, this.repsOf(this.main));
    this.lens.load(this.main, this.repsOf(this.main), this.runs, (r) => this.repsOf(r));
    this.loadFocus();
    this.loadCanvas(false);
    this.shown = -1;
    this.show(follow ? this.main.T : Math.min(this.cursor, this.main.T));
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

  setFocus(k) {
    if (!this.main || k === this.focus || this.canvas.run !== this.main) return;
    this.focus = k;
    this.loadFocus();
    this.canvas.focus = k;
    this.shown = -1;
    this.show(this.cursor);
  }

  /** Move the cursor to step t (clamped) and draw it once the previous draw is done. */
  show(t) {
    if (!this.main) return;
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
    const run = this.main;
    this.shown = t;
    this.label.textContent = `step ${t} / ${run.T}` + (run.resampled[t] ? " · resampled after this step" : "") +
      (this.live ? " · sampling…" : "");
    this.root.dataset.step = t;
  }

  play(restart = false) {
    if (!this.main) return;
    if (!restart && this.shown >= this.main.T) this.show(0);
    this.playing = true;
    this.playBtn.textContent = "⏸ Pause";
    const speed = Number(this.speed.value), start = this.cursor, t0 = performance.now();
    const token = (this.playToken = {});
    const tick = (now) => {
      if (!this.playing || this.playToken !== token) return;
      const target = Math.min(start + Math.floor(((now - t0) * speed) / 1000), this.main.T);
      if (target !== this.cursor && !this.rendering) this.show(target);
      if (this.shown >= this.main.T) { this.pause(); return; }
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
