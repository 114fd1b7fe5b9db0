#!/usr/bin/env python3
"""Load test for nextlm-server: N concurrent streaming chat clients (the openai
client) for a fixed time, each running a growing conversation (so prefix reuse
is exercised) that restarts when it nears the context's end.

Starts the server itself (so that it can watch its RSS) unless --url is given:

    examples/server/loadtest.py --server build/examples/server/nextlm-server \\
        --model ../shared/fixtures/models/tiny-qwen3next-q4_k_m.gguf --clients 16 --seconds 60

The clients run --warmup seconds (while each slot's bounded set of recurrent
checkpoints fills up) and then --seconds more. Passes (exit 0) with zero failed
requests over the whole run, the server still alive and exiting cleanly on
SIGTERM, and RSS growing by less than --rss-tolerance (default 10%) over the
measured --seconds."""
import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

import openai


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            sys.exit("server exited during start-up")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("server not ready after %d s" % timeout)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = self.failed = self.tokens = self.cached = self.prompt = 0
        self.latency, self.ttft, self.errors = [], [], []

    def add(self, latency, ttft, usage):
        with self.lock:
            self.ok += 1
            self.latency.append(latency)
            self.ttft.append(ttft)
            if usage:
                self.tokens += usage.completion_tokens
                self.prompt += usage.prompt_tokens
                self.cached += usage.prompt_tokens_details.cached_tokens

    def fail(self, err):
        with self.lock:
            self.failed += 1
            if len(self.errors) < 10:
                self.errors.append(repr(err))


def client_loop(idx, url, stop_at, ctx, stats):
    rng = random.Random(idx)
    client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=300)
    messages = []
    while time.time() < stop_at:
        if not messages or len(str(messages)) > ctx:  # characters as a cheap stand-in for tokens
            messages = [{"role": "system", "content": "You are load-test client %d." % idx}]
        messages.append({"role": "user", "content": "Question %d: %s" % (rng.randrange(1000), "why " * rng.randrange(1, 8))})
        t0 = time.time()
        ttft, text, usage = None, [], None
        try:
            stream = client.chat.completions.create(
                model="any", messages=messages, stream=True, stream_options={"include_usage": True},
                max_tokens=rng.randrange(16, 64), temperature=0.8, seed=rng.randrange(1 << 30))
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    if ttft is None:
                        ttft = time.time() - t0
                    text.append(chunk.choices[0].delta.content)
                if chunk.usage:
                    usage = chunk.usage
            if usage is None:
                raise RuntimeError("stream ended without usage")
            stats.add(time.time() - t0, ttft if ttft is not None else time.time() - t0, usage)
            messages.append({"role": "assistant", "content": "".join(text)})
        except Exception as e:  # every failure counts; the loop goes on
            stats.fail(e)
            messages = []


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="build/examples/server/nextlm-server")
    ap.add_argument("--model", default="../shared/fixtures/models/tiny-qwen3next-q4_k_m.gguf")
    ap.add_argument("--url", help="test a running server instead (no RSS figures)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=30, help="seconds before the RSS baseline is taken")
    ap.add_argument("--slots", type=int, default=16)
    ap.add_argument("--queue", type=int, default=16)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rss-tolerance", type=float, default=0.10)
    args = ap.parse_args()

    proc = None
    url = args.url
    if not url:
        port = free_port()
        cmd = [args.server, "-m", args.model, "--port", str(port), "--slots", str(args.slots), "--queue",
               str(args.queue), "--ctx", str(args.ctx), "--threads", str(args.threads)]
        print("server:", " ".join(cmd), flush=True)
        proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
        url = "http://127.0.0.1:%d" % port
    wait_ready(url, proc)

    stats = Stats()
    start = time.time()
    stop_at = start + args.warmup + args.seconds
    threads = [threading.Thread(target=client_loop, args=(i, url, stop_at, args.ctx, stats), daemon=True)
               for i in range(args.clients)]
    for t in threads:
        t.start()
    rss = []  # (seconds since start, KiB)
    while any(t.is_alive() for t in threads):
        if proc is not None:
            if proc.poll() is not None:
                print("FAIL: the server died (exit %s)" % proc.returncode)
                return 1
            rss.append((time.time() - start, rss_kib(proc.pid)))
        time.sleep(1)
    elapsed = time.time() - start

    ok = True
    print("clients %d, %.0f s (%.0f s warm-up + %.0f s): %d requests ok, %d failed" %
          (args.clients, elapsed, args.warmup, args.seconds, stats.ok, stats.failed))
    for e in stats.errors:
        print("  error:", e)
    ok &= stats.failed == 0 and stats.ok > 0
    if stats.latency:
        q = statistics.quantiles(stats.latency, n=20)
        t = statistics.quantiles(stats.ttft, n=20) if len(stats.ttft) > 1 else [0] * 19
        print("generated %d tokens: %.1f tokens/s overall; latency p50 %.2f s, p95 %.2f s; first token p50 %.2f s, "
              "p95 %.2f s" % (stats.tokens, stats.tokens / elapsed, q[9], q[18], t[9], t[18]))
        print("prompt tokens %d, of which cached %d (%.0f%%)" % (stats.prompt, stats.cached,
                                                                100.0 * stats.cached / max(1, stats.prompt)))
    if proc is not None:
        base = [kib for s, kib in rss if s >= args.warmup]
        if base:
            first, last, peak = base[0], base[-1], max(base)
            growth = (last - first) / first
            print("RSS after %.0f s warm-up: %.1f MiB, at the end %.1f MiB (%+.1f%%), peak %.1f MiB" %
                  (args.warmup, first / 1024, last / 1024, 100 * growth, peak / 1024))
            ok &= growth < args.rss_tolerance
            line = ", ".join("%.0fs %.1f" % (s, kib / 1024) for s, kib in rss[::10])
            print("RSS every 10 s (MiB): " + line)
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "killed after 30 s"
        print("server exit on SIGTERM: %s" % rc)
        ok &= rc == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
