"""View builders: one run (and one step) in, one figure, HTML string or table out."""
