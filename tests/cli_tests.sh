#!/usr/bin/env bash
# Command-line tests of the `nextlm` program: cli_tests.sh NAME NEXTLM FIXTURES OUTDIR.
# Exit 77 means skipped (fixtures missing).
set -euo pipefail
name=$1 nextlm=$2 fixtures=$3 out=$4
py=${PYTHON:-/usr/bin/python3}
mkdir -p "$out"
need_fixtures() { [ -d "$fixtures/models" ] || { echo "SKIPPED: fixtures not found at $fixtures"; exit 77; }; }
fail() { echo "FAIL: $*"; exit 1; }

case $name in
info)
  need_fixtures
  m=$fixtures/models/tiny-qwen3next-iq3_m.gguf
  "$nextlm" info "$m" > "$out/info.txt"
  grep -q "architecture: qwen3next" "$out/info.txt" || fail "no architecture line"
  grep -q "qwen3next.block_count = 8" "$out/info.txt" || fail "no block_count"
  grep -q "blk.3.attn_q.weight .*iq3_s .*\[256, 512\]" "$out/info.txt" || fail "tensor line missing"
  grep -q "tokenizer.ggml.tokens = \[2074 x string\]" "$out/info.txt" || fail "tokenizer summary missing"
  "$nextlm" info "$m" --json > "$out/info.json"
  "$py" - "$out/info.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["architecture"] == "qwen3next"
assert d["metadata"]["qwen3next.expert_count"] == 8
assert d["metadata"]["tokenizer.ggml.tokens"]["length"] == 2074
assert sum(v["bytes"] for v in d["bytes_per_type"].values()) == d["tensor_bytes"]
assert any(t["name"] == "output.weight" and t["type"] == "q6_K" and t["shape"] == [256, 2074] for t in d["tensors"])
PY
  ;;
dequant_zoo)
  need_fixtures
  "$nextlm" dequant "$fixtures/models/tiny-qwen3next-zoo.gguf" --rows 3 --out "$out/zoo"
  cmp "$out/zoo.f32" "$fixtures/refs/tiny-qwen3next-zoo.dequant-rows.f32" || fail "f32 rows differ from ggml"
  "$py" - "$out/zoo.json" "$fixtures/refs/tiny-qwen3next-zoo.dequant-rows.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a == b, "index differs"
PY
  ;;
synth_roundtrip)
  "$nextlm" synth --preset tiny --types iq3_m --seed 7 --out "$out/synth.gguf"
  "$nextlm" synth --preset tiny --types iq3_m --seed 7 --out "$out/synth2.gguf"
  cmp "$out/synth.gguf" "$out/synth2.gguf" || fail "synth is not deterministic"
  "$nextlm" info "$out/synth.gguf" > "$out/synth.txt"
  grep -q "architecture: qwen3next" "$out/synth.txt" || fail "synth model has no architecture"
  "$nextlm" dequant "$out/synth.gguf" --rows 2 --out "$out/synth_rows"
  "$py" - "$out/synth_rows.f32" <<'PY'
import array, math, sys
a = array.array("f"); a.frombytes(open(sys.argv[1], "rb").read())
assert len(a) > 0 and all(math.isfinite(x) for x in a), "non-finite dequantized weights"
assert max(abs(x) for x in a) < 100, "weights out of range"
PY
  ;;
errors)
  # Bad input gives a message on stderr and a non-zero status, never a crash (status >= 128).
  printf 'GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff' > "$out/bad.gguf"
  for args in "info $out/bad.gguf" "info /nonexistent.gguf" "dequant $out/bad.gguf --out $out/x" "info" \
              "bogus" "info $out/bad.gguf --frobnicate" "synth --preset nope --out $out/y.gguf" \
              "dequant $out/bad.gguf --rows abc --out $out/x"; do
    set +e
    "$nextlm" $args > "$out/err.out" 2> "$out/err.txt"
    rc=$?
    set -e
    [ $rc -ne 0 ] && [ $rc -lt 128 ] || fail "nextlm $args exited $rc"
    [ -s "$out/err.txt" ] || fail "nextlm $args printed no error"
  done
  grep -q "at byte" <("$nextlm" info "$out/bad.gguf" 2>&1) || fail "corrupt-file error does not locate the problem"
  ;;
logits_exact|logits_native)
  # Teacher-forced on llama.cpp's tokens, against the exact (f32) references.
  need_fixtures
  mode=${name#logits_}
  flag=""; [ "$mode" = exact ] && flag=--exact
  for m in bf16 iq3_m q4_k_m zoo legacy-q4_k_m; do
    for p in p1 p2; do
      ref=$fixtures/refs/tiny-qwen3next-$m.$p.exact.json
      "$nextlm" logits "$fixtures/models/tiny-qwen3next-$m.gguf" --force-tokens "$ref" $flag --out "$out/$m.$p.$mode" >/dev/null
      echo -n "$m $p $mode: "
      "$py" "$fixtures/../tools/compare_logits.py" "$out/$m.$p.$mode.json" "$ref" --tol "$mode" || fail "$m $p $mode"
    done
  done
  ;;
logits_kv_quant)
  need_fixtures
  ref=$fixtures/refs/tiny-qwen3next-iq3_m.p2.exact.json
  "$nextlm" logits "$fixtures/models/tiny-qwen3next-iq3_m.gguf" --force-tokens "$ref" --cache-type-k q8_0 \
    --cache-type-v q4_0 --out "$out/kvq" >/dev/null
  "$py" "$fixtures/../tools/compare_logits.py" "$out/kvq.json" "$ref" --tol native || fail "q8_0/q4_0 cache"
  ;;
logits_ubatch)
  # Results must not depend on how the prompt is split (nor on the delta-rule form).
  need_fixtures
  ref=$fixtures/refs/tiny-qwen3next-q4_k_m.p2.exact.json
  for ub in 512 1 7 64; do
    "$nextlm" logits "$fixtures/models/tiny-qwen3next-q4_k_m.gguf" --force-tokens "$ref" --exact --ubatch $ub \
      --out "$out/ub$ub" >/dev/null
    "$py" "$fixtures/../tools/compare_logits.py" "$out/ub$ub.json" "$out/ub512.json" --tol exact || fail "ubatch $ub"
  done
  "$nextlm" logits "$fixtures/models/tiny-qwen3next-q4_k_m.gguf" --force-tokens "$ref" --exact --recurrent \
    --out "$out/recurrent" >/dev/null
  "$py" "$fixtures/../tools/compare_logits.py" "$out/recurrent.json" "$out/ub512.json" --tol exact || fail "recurrent"
  ;;
logits_layer_split)
  # Layers split over virtual CPU devices: the same logits as one device.
  need_fixtures
  ref=$fixtures/refs/tiny-qwen3next-legacy-q4_k_m.p2.exact.json
  for d in cpu:0,cpu:1 cpu:0,cpu:1,cpu:2; do
    "$nextlm" logits "$fixtures/models/tiny-qwen3next-legacy-q4_k_m.gguf" --force-tokens "$ref" --exact \
      --devices $d --out "$out/split" >/dev/null
    "$py" "$fixtures/../tools/compare_logits.py" "$out/split.json" "$ref" --tol exact || fail "split $d"
  done
  ;;
logits_greedy)
  # Free-running: our tokenizer on the prompt text, greedy generation.
  need_fixtures
  for m in bf16 iq3_m q4_k_m zoo legacy-q4_k_m; do
    for p in 1 2; do
      every=1; [ $p = 2 ] && every=16
      "$nextlm" logits "$fixtures/models/tiny-qwen3next-$m.gguf" --prompt-file "$fixtures/prompts/prompt$p.txt" \
        --exact --every $every --out "$out/greedy" >/dev/null
      "$py" - "$out/greedy.json" "$fixtures/refs/tiny-qwen3next-$m.p$p.exact.json" <<'PY' || fail "$m p$p greedy"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["prompt_tokens"] == b["prompt_tokens"], "prompt tokens differ"
assert a["logit_rows_prompt_positions"] == b["logit_rows_prompt_positions"], "rows differ"
assert a["generated_tokens"][:8] == b["generated_tokens"][:8], (a["generated_tokens"], b["generated_tokens"])
PY
    done
  done
  ;;
*) fail "unknown test $name" ;;
esac
echo "PASS: $name"
