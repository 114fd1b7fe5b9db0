#!/usr/bin/env bash
# Command-line tests of the `nextlm` program: cli_tests.sh NAME NEXTLM FIXTURES OUTDIR.
# Exit 77 means skipped (fixtures missing).
set -euo pipefail
# Each test writes under its own folder: ctest runs them in parallel.
name=$1 nextlm=$2 fixtures=$3 out=$4/$1
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
logits_tensor_split)
  # Heads, experts, shared-expert rows and LM-head rows divided over virtual CPU devices,
  # one all-reduce per block: the unsplit logits within the exact tolerance.
  # (p1, 94 tokens, for speed; the legacy layout once over p2's 812 tokens.)
  need_fixtures
  for run in legacy-q4_k_m:p2:1,1 legacy-q4_k_m:p1:2,3 q4_k_m:p1:1,1 q4_k_m:p1:3,2; do
    IFS=: read -r m p ratios <<< "$run"
    ref=$fixtures/refs/tiny-qwen3next-$m.$p.exact.json
    "$nextlm" logits "$fixtures/models/tiny-qwen3next-$m.gguf" --force-tokens "$ref" --exact --devices cpu:0,cpu:1 \
      --split tensor --tensor-split $ratios --out "$out/ts" >/dev/null
    "$py" "$fixtures/../tools/compare_logits.py" "$out/ts.json" "$ref" --tol exact || fail "$m $p tensor split $ratios"
  done
  # Native BF16 (columns cut anywhere): against llama.cpp's native run, as the unsplit native
  # run is checked. Native BF16 rounds activations to bf16 (quant/dot_bf16.h, as llama.cpp
  # does), so a split's other summation order can flip roundings: split and unsplit agree to
  # the native tolerance, not the exact one.
  ref=$fixtures/refs/tiny-qwen3next-bf16.p1.native.json
  "$nextlm" logits "$fixtures/models/tiny-qwen3next-bf16.gguf" --force-tokens "$ref" --devices cpu:0,cpu:1 \
    --split tensor --tensor-split 3,2 --out "$out/ts" >/dev/null
  "$py" "$fixtures/../tools/compare_logits.py" "$out/ts.json" "$ref" --tol native || fail "bf16 native tensor split"
  # Three devices need three head groups: a synthesized model with 3 KV heads, 3 k-heads, 9 experts.
  "$nextlm" synth --preset tiny --shape n_head=6,n_head_kv=3,ssm_n_group=3,ssm_dt_rank=6,n_expert=9 --types q4_k_m \
    --out "$out/three.gguf" >/dev/null
  "$nextlm" logits "$out/three.gguf" --prompt-file "$fixtures/prompts/prompt1.txt" --exact --out "$out/three" >/dev/null
  for ratios in 1,1,1 1,2,3; do
    "$nextlm" logits "$out/three.gguf" --force-tokens "$out/three.json" --exact --devices cpu:0,cpu:1,cpu:2 \
      --split tensor --tensor-split $ratios --out "$out/ts" >/dev/null
    "$py" "$fixtures/../tools/compare_logits.py" "$out/ts.json" "$out/three.json" --tol exact || fail "3 devices $ratios"
  done
  ;;
logits_cpu_moe)
  # Routed experts of the first N layers on a CPU backend of their own, alone and with both splits.
  need_fixtures
  ref=$fixtures/refs/tiny-qwen3next-iq3_m.p1.exact.json
  for args in "--cpu-moe 3" "--cpu-moe 8 --devices cpu:0,cpu:1,cpu:2" "--cpu-moe 5 --devices cpu:0,cpu:1 --split tensor" \
              "--cpu-moe 2 --devices cpu:0,cpu:1 --split tensor --tensor-split 1,3"; do
    "$nextlm" logits "$fixtures/models/tiny-qwen3next-iq3_m.gguf" --force-tokens "$ref" --exact $args \
      --out "$out/moe" >/dev/null
    "$py" "$fixtures/../tools/compare_logits.py" "$out/moe.json" "$ref" --tol exact || fail "$args"
  done
  # Native: the same logits as one device (the experts' ops are the same ops on a CPU backend).
  "$nextlm" logits "$fixtures/models/tiny-qwen3next-iq3_m.gguf" --force-tokens "$ref" --out "$out/one" >/dev/null
  "$nextlm" logits "$fixtures/models/tiny-qwen3next-iq3_m.gguf" --force-tokens "$ref" --cpu-moe 4 --devices cpu:0,cpu:1 \
    --out "$out/moe" >/dev/null
  cmp "$out/moe.logits.f32" "$out/one.logits.f32" || fail "native --cpu-moe differs from one device"
  ;;
split_errors)
  # Splits that cannot be made: a clear message and a non-zero status, never a crash.
  need_fixtures
  m=$fixtures/models/tiny-qwen3next-q4_k_m.gguf
  ref=$fixtures/refs/tiny-qwen3next-q4_k_m.p1.exact.json
  check() {
    local want=$1; shift
    set +e
    "$nextlm" "$@" > "$out/err.out" 2> "$out/err.txt"
    local rc=$?
    set -e
    [ $rc -ne 0 ] && [ $rc -lt 128 ] || fail "nextlm $* exited $rc"
    grep -q -- "$want" "$out/err.txt" || fail "nextlm $*: expected '$want', got: $(cat "$out/err.txt")"
  }
  for cmd in "logits $m --force-tokens $ref --out $out/e --exact" "plan $m"; do
    check "3 devices but only 2" $cmd --devices cpu:0,cpu:1,cpu:2 --split tensor
    check "cpu:1 gets none" $cmd --devices cpu:0,cpu:1 --split tensor --tensor-split 3,1
    check "bad split ratio 'x'" $cmd --devices cpu:0,cpu:1 --split tensor --tensor-split 1,x
    check "one ratio per device" $cmd --devices cpu:0,cpu:1 --split tensor --tensor-split 1,1,1
    check "unknown split mode" $cmd --devices cpu:0,cpu:1 --split rows
  done
  check "inside a block" logits $m --force-tokens $ref --out $out/e --devices cpu:0,cpu:1 --split tensor
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
