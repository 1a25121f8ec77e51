"""SR-SMC Explorer: plays recorded traces back, step by step, beside a baseline.

The package only reads `sampler.trace.Trace` objects: `runs` derives per-run arrays once,
`views/*` turn one step of a run into a figure, an HTML canvas or a table, `ui` wires
them into a Gradio page, `io` reads and writes trace files. Running the sampler is `app.py`'s
job; `make_examples` records the shipped example traces through it.
"""
