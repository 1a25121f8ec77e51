"""Shared pytest setup: the `hub` marker for tests that need the real Hugging Face hub."""
import os

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "hub: needs the real Hugging Face hub and model weights; "
                                       "runs only with SRSMC_HUB_TESTS=1")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("SRSMC_HUB_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="real hub test: set SRSMC_HUB_TESTS=1 to run it")
    for item in items:
        if "hub" in item.keywords:
            item.add_marker(skip)
