"""Without the fixture models every test is deselected, so that pytest exits
with 5 and ctest reports python.pytest as skipped (not as passed)."""
import os
import sys


def pytest_collection_modifyitems(config, items):
    fixtures = os.environ.get("NEXTLM_FIXTURES", os.path.join(os.path.dirname(__file__), "../../../shared/fixtures"))
    if not os.path.exists(os.path.join(fixtures, "models", "tiny-qwen3next-q4_k_m.gguf")):
        sys.stderr.write("python tests SKIPPED: fixtures not found (NEXTLM_FIXTURES=%s)\n" % fixtures)
        config.hook.pytest_deselected(items=list(items))
        items[:] = []
