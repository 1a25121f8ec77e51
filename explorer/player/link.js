// Links to a view: the page URL's hash carries the bundled example shown (ex), the step (t), the focus particle
// (f) and the view toggles (canvas run, inherited marks, repeat marks), e.g. `#ex=1-truth&t=29&f=3&inh=step&rep=1`.
// Other fields of the hash are kept. The player lives in the page's own document (Gradio's gr.HTML, or the
// exported file), so this is the page's location; written with history.replaceState (no history entry per step).
const FIELDS = ["ex", "t", "f", "canvas", "inh", "rep"];

function params() {
  try { return new URLSearchParams(window.location.hash.replace(/^#/, "")); } catch (e) { return new URLSearchParams(); }
}

/** The view a link holds ({ex?, t?, f?, canvas?, inh?, rep?}), or null when the URL holds none. */
export function readView() {
  const p = params(), v = {};
  for (const k of FIELDS) if (p.has(k)) v[k] = p.get(k);
  return Object.keys(v).length ? v : null;
}

/** The hash for view `v`, keeping fields that are not the player's. */
function hashOf(v) {
  const p = params();
  for (const k of FIELDS) { if (v[k] === undefined || v[k] === null) p.delete(k); else p.set(k, String(v[k])); }
  return "#" + p.toString();
}

/** The page's URL with view `v` in its hash. */
export function viewLink(v) {
  return window.location.href.replace(/#.*$/, "") + hashOf(v);
}

/** Put view `v` into the page's URL without adding a history entry. */
export function writeView(v) {
  const hash = hashOf(v);
  if (hash === window.location.hash) return;
  try { history.replaceState(history.state, "", hash); } catch (e) { /* a sandboxed frame: the link button still shows it */ }
}
