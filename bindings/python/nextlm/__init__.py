"""nextlm: Qwen3-Next inference (GGUF) from Python.

    import nextlm
    model = nextlm.Model("model.gguf", n_threads=8)
    session = nextlm.Session(model, n_ctx=32768)
    reply = session.chat([{"role": "user", "content": "Hi"}], max_tokens=64)
    print(reply["choices"][0]["message"]["content"])

Session.chat takes the whole conversation on every call, as a stateless
OpenAI-style client sends it, and reuses whatever prefix the session already
holds (usage.prompt_tokens_details.cached_tokens says how much). With
stream=True it returns an iterator of chat.completion.chunk dicts.
"""
import json
import queue
import threading
import time

from . import _native
from ._native import Error

__all__ = ["Model", "Session", "Error"]

_GEN_KEYS = ("max_tokens", "temperature", "top_k", "top_p", "min_p", "repeat_penalty", "presence_penalty",
             "frequency_penalty", "seed", "stop", "stop_tokens", "ignore_eos", "logit_bias")


class Model(_native.Model):
    """A loaded GGUF model. Keyword arguments: n_threads, use_mmap, exact, progress(fraction) -> bool,
    devices ("cuda:0,cuda:1", "cpu:0,cpu:1"), split ("layer" or "tensor"), tensor_split ("1,1"),
    cpu_moe (routed experts of the first N layers on the CPU), cpu_huge_pages (copy CPU weights into
    2 MiB pages; default True)."""

    def tokenize_chat(self, messages, tools=None, add_generation_prompt=True, template_vars=None,
                      parse_special_in_input=False):
        """The prompt tokens Session.chat feeds for this conversation. Control and user-defined tokens
        (<|im_start|>, <tool_call>...) are recognised only in the template's own text: text inside
        messages, tool calls/results and tool definitions stays text unless parse_special_in_input."""
        return self.chat_tokenize(json.dumps(messages, ensure_ascii=False), json.dumps(tools) if tools else "",
                                  add_generation_prompt, json.dumps(template_vars) if template_vars else "",
                                  parse_special_in_input)


class Session(_native.Session):
    """A conversation's context over a Model (n_ctx, cache_type_k, cache_type_v, checkpoint_interval...)."""

    def chat(self, messages, tools=None, stream=False, template_vars=None, parse_special_in_input=False, **options):
        gen = {k: v for k, v in options.items() if k in _GEN_KEYS}
        unknown = set(options) - set(_GEN_KEYS)
        if unknown:
            raise TypeError("unknown chat options: " + ", ".join(sorted(unknown)))
        if isinstance(gen.get("stop"), str):
            gen["stop"] = [gen["stop"]]
        args = (json.dumps(messages, ensure_ascii=False), gen, json.dumps(tools) if tools else "",
                json.dumps(template_vars) if template_vars else "")
        created = int(time.time())
        if not stream:
            return _completion(super().chat(*args, parse_special_in_input=parse_special_in_input), created)
        return _stream(self, args, created, parse_special_in_input)


def _usage(r):
    p = r["prompt"]
    return {"prompt_tokens": p["prompt_tokens"], "completion_tokens": r["generated_tokens"],
            "total_tokens": p["prompt_tokens"] + r["generated_tokens"],
            "prompt_tokens_details": {"cached_tokens": p["cached_tokens"]}}


def _tool_calls(r):
    return [{"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in r["tool_calls"]]


def _completion(r, created):
    message = {"role": "assistant", "content": r["content"] if r["content"] or not r["tool_calls"] else None}
    if r["reasoning_content"] is not None:
        message["reasoning_content"] = r["reasoning_content"]
    if r["tool_calls"]:
        message["tool_calls"] = _tool_calls(r)
    finish = r["finish_reason"] if r["finish_reason"] != "cancelled" else "stop"
    return {"id": "chatcmpl-%d" % created, "object": "chat.completion", "created": created, "model": "nextlm",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": _usage(r)}


def _stream(session, args, created, raw=False):
    """Runs the generation on a worker thread and yields OpenAI-shaped chunks as events arrive."""
    events = queue.Queue()
    done = object()

    def chunk(delta, finish=None, usage=None):
        c = {"id": "chatcmpl-%d" % created, "object": "chat.completion.chunk", "created": created,
             "model": "nextlm", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage is not None:
            c["usage"] = usage
        return c

    def on_event(e):
        k = e["kind"]
        if k == "content" and e["text"]:
            events.put(chunk({"content": e["text"]}))
        elif k == "reasoning" and e["text"]:
            events.put(chunk({"reasoning_content": e["text"]}))
        elif k == "tool_call_begin":
            events.put(chunk({"tool_calls": [{"index": e["index"], "id": e["id"], "type": "function",
                                              "function": {"name": e["name"], "arguments": ""}}]}))
        elif k == "tool_call_arguments" and e["text"]:
            events.put(chunk({"tool_calls": [{"index": e["index"], "function": {"arguments": e["text"]}}]}))

    result = {}

    def work():
        try:
            result["r"] = _native.Session.chat(session, *args, on_event=on_event, parse_special_in_input=raw)
        except BaseException as exc:  # handed to the consumer thread
            result["error"] = exc
        events.put(done)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        yield chunk({"role": "assistant", "content": ""})
        while True:
            item = events.get()
            if item is done:
                break
            yield item
    finally:
        if worker.is_alive():  # the consumer stopped early
            session.cancel()
        worker.join()
    if "error" in result:
        raise result["error"]
    r = result["r"]
    finish = r["finish_reason"] if r["finish_reason"] != "cancelled" else "stop"
    yield chunk({}, finish=finish, usage=_usage(r))
