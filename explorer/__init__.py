"""SR-SMC Explorer: plays recorded traces back, step by step, beside a baseline.

The package only reads `sampler.trace.Trace` objects: `io` loads trace files (validated, under
`limits`), `payload` turns runs into the JSON the browser gets once, `player` (Python side) and
`player/` (plain ES modules and CSS) draw every view for any step in the browser, `request` types
the run panel's settings, and `ui` wires it all into a Gradio page. Running the sampler is
`app.py`'s job; `tools/make_examples.py` records the shipped example traces through it.
"""
