#!/usr/bin/env python3
"""Reference renderer for chat templates: Python jinja2 configured the way
Hugging Face transformers renders chat templates (immutable sandbox,
trim_blocks, lstrip_blocks, loop controls, tojson with ensure_ascii=False,
raise_exception, strftime_now fixed at 2026-01-02 03:04:05, {% generation %}
renders its body, bos/eos <BOS>/<EOS>). Test aid only: writes
OUT/<stem>__<conversation>.txt or .error like fixtures/templates/expected.

usage: render_templates_py.py OUT_DIR TEMPLATE.jinja... [--conversations FILE]
"""
import datetime
import json
import os
import sys

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment


class GenerationTracker(Extension):
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime(2026, 1, 2, 3, 4, 5).strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    args = sys.argv[1:]
    conv_path = os.path.join(os.path.dirname(__file__), "../../shared/fixtures/templates/conversations.json")
    if "--conversations" in args:
        i = args.index("--conversations")
        conv_path = args[i + 1]
        del args[i:i + 2]
    out, templates = args[0], args[1:]
    os.makedirs(out, exist_ok=True)
    convs = json.load(open(conv_path, encoding="utf-8"))
    env = make_env()
    for path in templates:
        stem = os.path.splitext(os.path.basename(path))[0]
        src = open(path, encoding="utf-8").read()
        for c in convs:
            base = os.path.join(out, f"{stem}__{c['name']}")
            try:
                t = env.from_string(src)
                kw = {k: v for k, v in c.items() if k != "name"}
                text = t.render(bos_token="<BOS>", eos_token="<EOS>", **kw)
                with open(base + ".txt", "w", encoding="utf-8", newline="") as f:
                    f.write(text)
            except Exception as e:  # noqa: BLE001
                with open(base + ".error", "w", encoding="utf-8") as f:
                    f.write(f"{type(e).__name__}: {e}\n")


if __name__ == "__main__":
    main()
