"""Without the fixtures, the server binary or the openai module every test is
deselected, so that pytest exits with 5 and ctest reports server.pytest as
skipped (not as passed)."""
import importlib.util
import os
import sys


def _missing():
    fixtures = os.environ.get("NEXTLM_FIXTURES", os.path.join(os.path.dirname(__file__), "../../../shared/fixtures"))
    if not os.path.exists(os.path.join(fixtures, "models", "tiny-qwen3next-q4_k_m.gguf")):
        return "fixtures not found (NEXTLM_FIXTURES=%s)" % fixtures
    if not os.path.exists(os.environ.get("NEXTLM_SERVER", "")):
        return "nextlm-server not built (NEXTLM_SERVER)"
    if importlib.util.find_spec("openai") is None:
        return "the openai module is not installed for %s" % sys.executable
    return None


def pytest_collection_modifyitems(config, items):
    reason = _missing()
    if reason:
        sys.stderr.write("server tests SKIPPED: %s\n" % reason)
        config.hook.pytest_deselected(items=list(items))
        items[:] = []
