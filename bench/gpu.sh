#!/usr/bin/env bash
# Issue 7's GPU half, on the lent GPU machine, in one run (results under $OUT/, default ./gpu-out):
#   here:   npm ci && npm run build && bash ../shared/tools/gpu-carry.sh
#   device: carry [".gpu-carry", "dist"], command: source .gpu-carry/enter.sh && bash bench/gpu.sh
# 1. tfjs on WebGPU (Dawn over Vulkan): bench/forward.ts (forward, fwd+bwd, matmul rate), then
#    bench/discovery.ts's GPT-2-small parts (EAP, EAP-IG, one patched ACDC evaluation) with
#    the 100 prompts in one chunk (BENCH_EAP_BATCH; the wasm heap limit does not apply).
# 2. PyTorch eager on the same GPU, same model shape and prompts (bench/pytorch_gpt2.py).
# 3. bench/round-trips.ts: reads and kernel dispatches per forward, evaluation, ACDC and EAP pass.
# Each step's output and JSON land in $OUT even when a later step fails; $OUT/gpu.json gathers them.
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
export CIRCUITSCOPE_BACKEND=webgpu CIRCUITSCOPE_TRY_WEBGPU=1
timeout 900 node dist/bench/forward.js --backends webgpu > "$OUT/forward.log" 2>&1
cp bench/results/forward.json "$OUT/forward-webgpu.json" 2>/dev/null
BENCH_EAP_BATCH=${BENCH_EAP_BATCH:-100} timeout 1200 node dist/bench/discovery.js --attribution-only > "$OUT/discovery.log" 2>&1
cp bench/results/discovery.json "$OUT/discovery-webgpu.json" 2>/dev/null
# 3. Round trips (reads and kernel dispatches per forward, evaluation, ACDC, EAP pass).
timeout 600 node dist/bench/round-trips.js > "$OUT/round-trips.log" 2>&1
cp bench/results/round-trips-webgpu.json "$OUT/round-trips-webgpu.json" 2>/dev/null
for shape in "100 16" "32 64"; do
  set -- $shape
  timeout 300 python3 bench/pytorch_gpt2.py --batch "$1" --seq "$2" --out "$OUT/pytorch-$1x$2.json" >> "$OUT/pytorch.log" 2>&1
done
# Everything in one file, $OUT/gpu.json (copy it to bench/results/gpu.json here).
node -e '
const fs = require("fs"), out = process.argv[1], all = {};
for (const f of fs.readdirSync(out)) if (f.endsWith(".json") && f !== "gpu.json") { try { all[f.replace(/\.json$/, "")] = JSON.parse(fs.readFileSync(`${out}/${f}`, "utf8")); } catch (e) { all[f] = String(e); } }
try { all.gpu = fs.readFileSync(`${out}/gpu.txt`, "utf8").trim(); } catch {}
fs.writeFileSync(`${out}/gpu.json`, JSON.stringify(all, null, 1) + "\n");
' "$OUT"
tail -n 5 "$OUT"/*.log
