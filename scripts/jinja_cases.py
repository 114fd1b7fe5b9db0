#!/usr/bin/env python3
"""Fills in or checks the expected results of tests/test_chat_engine_cases.json
with Python's jinja2, configured as Hugging Face renders chat templates (see
render_templates_py.py). Each case: {"t": template, "ctx": {variables},
"out": expected text} or {"t", "ctx", "err": "Type: message"}.

usage: jinja_cases.py --update | --check   [FILE]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from render_templates_py import make_env  # noqa: E402


def render(env, case):
    try:
        return {"out": env.from_string(case["t"]).render(**case.get("ctx", {}))}
    except Exception as e:  # noqa: BLE001
        return {"err": f"{type(e).__name__}: {e}"}


def main():
    mode = sys.argv[1]
    path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../tests/test_chat_engine_cases.json")
    cases = json.load(open(path, encoding="utf-8"))
    env = make_env()
    bad = 0
    for c in cases:
        want = render(env, c)
        have = {k: c[k] for k in ("out", "err") if k in c}
        if mode == "--update":
            c.pop("out", None)
            c.pop("err", None)
            c.update(want)
        elif want != have:
            bad += 1
            print("MISMATCH", json.dumps(c["t"]), want, have)
    if mode == "--update":
        with open(path, "w", encoding="utf-8") as f:
            f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]\n")
    print(f"{len(cases)} cases, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
