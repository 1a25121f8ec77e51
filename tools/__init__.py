"""Maintenance scripts that sit above the packages: they may import `app`, `explorer` and `sampler`."""
