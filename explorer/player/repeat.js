// Repeated n-grams of every particle at every frame, among committed tokens only.
//
// An n-gram counts when its n positions are all committed; it "closes a loop" at its last position when
// the same n-gram already occurred earlier in the same particle. Positions inside any n-gram that occurs
// twice are "in a repeat" (as sampler.metrics.repeated_positions, masks ignored).

/** rep [size] bool, first [size] start of the first occurrence of the n-gram a position closes (else -1),
 *  rate [T+1][N] fraction of a particle's complete n-grams that already occurred earlier in it. */
export function repetition(run, n = run.repeatN) {
  const { N, G, T, tokens, commit } = run;
  const size = (T + 1) * N * G;
  const rep = new Uint8Array(size), first = new Int32Array(size).fill(-1);
  const rate = [];
  const base = run.maxId + 1;
  const numeric = Math.pow(base, n) < Number.MAX_SAFE_INTEGER;
  for (let t = 0; t <= T; t++) {
    const row = new Float32Array(N);
    for (let k = 0; k < N; k++) {
      const o = (t * N + k) * G;
      const seen = new Map();
      let grams = 0, repeats = 0, run_ = 0;
      for (let g = 0; g < G; g++) {
        run_ = commit[o + g] >= 0 ? run_ + 1 : 0;
        if (run_ < n) continue;
        let key;
        if (numeric) { key = 0; for (let i = g - n + 1; i <= g; i++) key = key * base + tokens[o + i]; }
        else { key = Array.from(tokens.subarray(o + g - n + 1, o + g + 1)).join(","); }
        grams++;
        const at = seen.get(key);
        if (at === undefined) { seen.set(key, g - n + 1); continue; }
        repeats++;
        first[o + g] = at;
        for (let i = 0; i < n; i++) { rep[o + g - i] = 1; rep[o + at + i] = 1; }
      }
      row[k] = grams ? repeats / grams : 0;
    }
    rate.push(row);
  }
  return { n, rep, first, rate };
}

/** Split of each particle's total log-confidence at frame t: [{tokens, punct, repeat, other}, …] where each
 *  class gives {count, logc} (punctuation first; repeat = non-punctuation tokens inside repeats). */
export function logcShares(run, reps, t) {
  const out = [], punct = run.punctCache || (run.punctCache = new Map());
  const isPunct = (id) => {
    let p = punct.get(id);
    if (p === undefined) punct.set(id, (p = run.isPunct(id)));
    return p;
  };
  for (let k = 0; k < run.N; k++) {
    const o = (t * run.N + k) * run.G;
    const s = { punct: { count: 0, logc: 0 }, repeat: { count: 0, logc: 0 }, other: { count: 0, logc: 0 } };
    for (let g = 0; g < run.G; g++) {
      if (run.commit[o + g] < 0) continue;
      const cls = isPunct(run.tokens[o + g]) ? s.punct : reps.rep[o + g] ? s.repeat : s.other;
      cls.count++; cls.logc += run.logc[o + g];
    }
    out.push(s);
  }
  return out;
}
