// Small DOM helpers shared by the views.

/** Element `tag` with attributes and children (strings become text nodes). */
export function el(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of [].concat(children)) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

/** Replace `parent`'s children with `children` (any number: appended one by one, never spread into a call). */
export function setChildren(parent, children) {
  const frag = document.createDocumentFragment();
  for (const c of children) frag.append(c instanceof Node ? c : document.createTextNode(String(c)));
  parent.replaceChildren(frag);
}

/** A number with `d` decimals, "–" when missing. */
export function fmt(v, d = 2) {
  return v === null || v === undefined || !Number.isFinite(v) ? "–" : Number(v).toFixed(d);
}

/** A button that moves the player's cursor to step `step` when clicked (handled by the player's root). */
export function seek(step, text = String(step)) {
  return el("button", { type: "button", class: "srp-seek", "data-step": step, title: `go to step ${step}` }, text);
}
