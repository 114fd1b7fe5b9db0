#!/usr/bin/env python3
"""Streaming terminal chat with the nextlm Python module: chat.py MODEL [-p PROMPT]."""
import argparse
import sys

import nextlm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("-p", "--prompt")
    ap.add_argument("-n", "--max-tokens", type=int, default=256)
    ap.add_argument("--temp", type=float, default=0.7)
    args = ap.parse_args()
    model = nextlm.Model(args.model)
    session = nextlm.Session(model, n_ctx=8192)
    messages = []
    while True:
        text = args.prompt if args.prompt is not None else input("> ")
        messages.append({"role": "user", "content": text})
        reply = ""
        for chunk in session.chat(messages, stream=True, max_tokens=args.max_tokens, temperature=args.temp):
            piece = chunk["choices"][0]["delta"].get("content") or ""
            reply += piece
            sys.stdout.write(piece)
            sys.stdout.flush()
        print()
        messages.append({"role": "assistant", "content": reply})
        if args.prompt is not None:
            break


if __name__ == "__main__":
    main()
