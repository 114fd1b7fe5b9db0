#!/usr/bin/env python3
"""A minimal tool-calling agent: agent.py MODEL "task".

Two local tools — read_file and calculate — are offered to the model; each
tool call it makes is parsed by nextlm, executed here and its result fed back
as a `tool` message, until the model answers without calling a tool (or the
step limit is reached). The whole conversation is re-sent each step; the
session reuses the prefix it already holds (see the cached-token counts).
"""
import ast
import json
import operator
import sys

import nextlm

TOOLS = [
    {"type": "function", "function": {
        "name": "read_file", "description": "Read a text file and return its contents",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
    {"type": "function", "function": {
        "name": "calculate", "description": "Evaluate an arithmetic expression (+ - * / ** and parentheses)",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}},
                       "required": ["expression"]}}},
]

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}


def _eval(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left), _eval(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.operand))
    raise ValueError("unsupported expression")


def run_tool(name, arguments):
    try:
        args = json.loads(arguments)
        if name == "read_file":
            with open(args["path"], encoding="utf-8", errors="replace") as f:
                return f.read(20000)
        if name == "calculate":
            return str(_eval(ast.parse(args["expression"], mode="eval").body))
        return "error: unknown tool " + name
    except Exception as e:  # the model sees the error and may retry
        return "error: %s" % e


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: agent.py MODEL TASK [MAX_STEPS]")
    model = nextlm.Model(sys.argv[1])
    session = nextlm.Session(model, n_ctx=16384)
    messages = [{"role": "user", "content": sys.argv[2]}]
    for step in range(int(sys.argv[3]) if len(sys.argv) > 3 else 8):
        r = session.chat(messages, tools=TOOLS, max_tokens=512, temperature=0)
        msg = r["choices"][0]["message"]
        usage = r["usage"]
        print("[step %d: %d prompt tokens, %d cached]" % (step, usage["prompt_tokens"],
                                                         usage["prompt_tokens_details"]["cached_tokens"]))
        messages.append(msg)
        if not msg.get("tool_calls"):
            print(msg["content"])
            return
        for call in msg["tool_calls"]:
            fn = call["function"]
            result = run_tool(fn["name"], fn["arguments"])
            print("  %s(%s) -> %s" % (fn["name"], fn["arguments"], result[:80].replace("\n", " ")))
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    print("(step limit reached)")


if __name__ == "__main__":
    main()
