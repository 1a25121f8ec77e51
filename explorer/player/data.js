// A run for the player: the trace's events replayed once into typed arrays, so that any step is a lookup.
//
// Frame t (0..T) is the population after step t's commits and self-reward, before its resampling: the
// particles the step's weights and ESS describe. Cell (t, k, g) sits at index (t·N + k)·G + g, g over the
// generated positions. parents[t][k] is the row of frame t that row k of frame t+1 descends from.

const PUNCT = /^[^\p{L}\p{N}]*$/u;

/** Normalised weights of log-weights [N] (a loop, not a spread: N may be any size the server accepts). */
export function softmax(logw) {
  let m = -Infinity;
  for (const v of logw) if (v > m) m = v;
  const z = new Array(logw.length);
  let s = 0;
  for (let i = 0; i < logw.length; i++) { z[i] = Math.exp(logw[i] - m); s += z[i]; }
  for (let i = 0; i < z.length; i++) z[i] /= s;
  return z;
}

/** Index of the largest value of `values` (the first on ties; -1 when empty). */
export function argmax(values) {
  let best = -1;
  for (let i = 0; i < values.length; i++) if (best < 0 || values[i] > values[best]) best = i;
  return best;
}

const ARRAYS = { "<i4": Int32Array, "<f4": Float32Array, "<f8": Float64Array, "|b1": Uint8Array };

/** Bytes of base64 text (the engine's decoder where it has one). */
function fromBase64(text) {
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(text);
  const bin = atob(text), out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A payload run's packed steps (explorer/payload.py `pack_steps`) → the steps [T] as the trace dict holds them:
 *  one object per step with the same fields, each list a typed-array view (booleans as 0/1) into one column, a
 *  [P][n] field (the ancestors) an array of P views, null where the trace holds None. */
export function unpackSteps(packed) {
  const steps = Array.from({ length: packed.n }, (_, t) => {
    const rec = {};
    for (const [name, values] of Object.entries(packed.scalars)) rec[name] = values[t];
    return rec;
  });
  for (const [name, col] of Object.entries(packed.columns)) {
    const data = new ARRAYS[col.dtype](fromBase64(col.data).buffer), off = new Int32Array(fromBase64(col.offsets).buffer);
    const none = col.none ? fromBase64(col.none) : null, w = col.width;
    steps.forEach((rec, t) => {
      const v = data.subarray(off[t], off[t + 1]);
      rec[name] = none && none[t] ? null : w ? Array.from({ length: v.length / w }, (_, p) => v.subarray(p * w, (p + 1) * w)) : v;
    });
  }
  return steps;
}

/** Replays one run's trace dict (a payload run, its steps packed or already unpacked) into typed arrays. */
export function buildRun(payloadRun) {
  // The page's value is never mutated: the unpacked steps go into a copy of the run.
  const d = Array.isArray(payloadRun.steps) ? payloadRun : { ...payloadRun, steps: unpackSteps(payloadRun.steps) };
  const N = d.config.n_particles, W = d.prompt_width, L = d.initial[0].length, G = L - W, T = d.steps.length;
  const size = (T + 1) * N * G, NG = N * G;
  const tokens = new Int32Array(size), logc = new Float32Array(size).fill(NaN);
  const commit = new Int32Array(size).fill(-1), inherited = new Uint8Array(size);
  const cur = { tokens: new Int32Array(NG), logc: new Float32Array(NG).fill(NaN), commit: new Int32Array(NG).fill(-1),
    inherited: new Uint8Array(NG) };
  for (let k = 0; k < N; k++) for (let g = 0; g < G; g++) cur.tokens[k * G + g] = d.initial[0][W + g];
  const identity = Array.from({ length: N }, (_, k) => k);
  const parents = [identity], logw = [new Array(N).fill(0)], increment = [new Array(N).fill(0)];
  const ess = [N], resampled = [false], block = [0];
  const save = (t) => {
    tokens.set(cur.tokens, t * NG); logc.set(cur.logc, t * NG); commit.set(cur.commit, t * NG);
    inherited.set(cur.inherited, t * NG);
  };
  save(0);
  d.steps.forEach((rec, i) => {
    const s = i + 1;
    for (let c = 0; c < rec.rows.length; c++) {
      const g = rec.positions[c] - W;
      if (g < 0) continue;
      const j = rec.rows[c] * G + g;
      cur.tokens[j] = rec.tokens[c]; cur.logc[j] = rec.log_conf[c]; cur.commit[j] = s; cur.inherited[j] = 0;
    }
    save(s);
    logw.push(Array.from(rec.log_weight.slice(0, N))); increment.push(Array.from(rec.log_increment.slice(0, N)));
    ess.push(rec.ess[0]); resampled.push(Boolean(rec.resampled[0])); block.push(rec.block);
    const a = rec.ancestors ? Array.from(rec.ancestors[0]) : identity;
    parents.push(a);
    if (rec.ancestors) {
      const old = { tokens: cur.tokens.slice(), logc: cur.logc.slice(), commit: cur.commit.slice(),
        inherited: cur.inherited.slice() };
      for (let k = 0; k < N; k++) {
        const from = a[k] * G, to = k * G, moved = a[k] !== k;
        cur.tokens.set(old.tokens.subarray(from, from + G), to);
        cur.logc.set(old.logc.subarray(from, from + G), to);
        cur.commit.set(old.commit.subarray(from, from + G), to);
        for (let g = 0; g < G; g++) cur.inherited[to + g] = old.inherited[from + g] | (moved && old.commit[from + g] >= 0);
      }
    }
  });
  const roots = [identity];
  for (let t = 1; t <= T; t++) roots.push(identity.map((k) => roots[t - 1][parents[t - 1][k]]));
  const weights = logw.map(softmax);
  const vocab = d.vocab;
  const final = d.final && d.final.texts ? { chosen: d.final.chosen[0], scores: d.final.scores[0], texts: d.final.texts[0] } : null;
  let maxId = Math.max(d.mask_id, 0);
  for (const rec of d.steps) for (const id of rec.tokens) if (id > maxId) maxId = id;
  const words = new Map();
  const run = { d, role: d.role, label: d.label, config: d.config, N, G, T, W, NG, tokens, logc, commit, inherited,
    parents, roots, logw, weights, increment, ess, resampled, block, final, metrics: d.metrics || null,
    chosen: final ? final.chosen : 0, maskId: d.mask_id, repeatN: d.repeat_n || 3, maxId,
    prompt: d.prompts[0],
    word(id) {
      let w = words.get(id);
      if (w === undefined) { w = vocab[id] ?? `<${id}>`; words.set(id, w); }
      return w;
    },
    isPunct(id) { return PUNCT.test(this.word(id)); },
    at(t, k, g) { return (t * N + k) * G + g; },
  };
  run.kappa = Number(d.config.ess_threshold ?? 0.5);
  return run;
}

/** Rows [T+1] of the nodes row `row` of frame `t` descends from, at frames 0..t. */
export function ancestry(run, row, t = run.T) {
  const path = new Array(t + 1);
  path[t] = row;
  for (let s = t - 1; s >= 0; s--) path[s] = run.parents[s][path[s + 1]];
  return path;
}

/** For each frame s in [from, later]: which of its rows have descendants at frame `later` ([later+1][N] bool,
 *  entries before `from` left undefined). */
export function descendants(run, from, later = run.T) {
  const out = new Array(later + 1);
  out[later] = new Uint8Array(run.N).fill(1);
  for (let s = later - 1; s >= from; s--) {
    out[s] = new Uint8Array(run.N);
    for (let k = 0; k < run.N; k++) if (out[s + 1][k]) out[s][run.parents[s][k]] = 1;
  }
  return out;
}

/** Ancestor at frame `t` of every node (s, k), s ≥ t: Int32Array [(T+1)·N], -1 for s < t. */
export function ancestorsAt(run, t) {
  const N = run.N, out = new Int32Array((run.T + 1) * N).fill(-1);
  for (let k = 0; k < N; k++) out[t * N + k] = k;
  for (let s = t + 1; s <= run.T; s++) for (let k = 0; k < N; k++) out[s * N + k] = out[(s - 1) * N + run.parents[s - 1][k]];
  return out;
}
