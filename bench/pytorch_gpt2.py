"""PyTorch eager reference for issue 7's GPU comparison (run by bench/gpu.sh on the GPU machine).

GPT-2 small built from GPT2Config() (random weights, no download), B prompts x T tokens
(default 100 x 16, the ACDC/EAP benchmark's shape), timed on CUDA when present:
  forward            logits under torch.no_grad()
  fwd+bwd (inputs)   logit difference at the last position, gradient w.r.t. the input
                     embeddings only (weights frozen): what attribution patching needs
  fwd+bwd (all)      the same with every weight gradient (training-style)
Prints one JSON object; `--out FILE` also writes it.
Not runnable on the CI machine (no torch there); written for the GPU session.
"""
import argparse
import json
import platform
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel


def timed(fn, sync, reps, warm=3):
    for _ in range(warm):
        fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    sync()
    return (time.perf_counter() - t0) / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--seq", type=int, default=16)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--out")
    a = ap.parse_args()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).to(dev).eval()
    ids = torch.randint(0, 50257, (a.batch, a.seq), device=dev)
    a_tok, b_tok = 11, 22

    def forward():
        with torch.no_grad():
            model(ids).logits

    def metric(logits):
        last = logits[:, -1, :]
        return (last[:, a_tok] - last[:, b_tok]).mean()

    emb = model.transformer.wte(ids).detach()

    def fwd_bwd_inputs():
        x = emb.clone().requires_grad_(True)
        with torch.enable_grad():
            m = metric(model(inputs_embeds=x).logits)
            (g,) = torch.autograd.grad(m, x)
        return g

    def fwd_bwd_all():
        model.zero_grad(set_to_none=True)
        metric(model(ids).logits).backward()

    res = {"device": torch.cuda.get_device_name(0) if dev == "cuda" else platform.processor(),
           "torch": torch.__version__, "batch": a.batch, "seq": a.seq, "reps": a.reps}
    res["forwardSeconds"] = timed(forward, sync, a.reps)
    for p in model.parameters():
        p.requires_grad_(False)
    res["fwdBwdInputsSeconds"] = timed(fwd_bwd_inputs, sync, a.reps)
    for p in model.parameters():
        p.requires_grad_(True)
    res["fwdBwdAllSeconds"] = timed(fwd_bwd_all, sync, a.reps)
    tokens = a.batch * a.seq
    for k in ["forward", "fwdBwdInputs", "fwdBwdAll"]:
        res[k + "TokensPerSec"] = tokens / res[k + "Seconds"]
    print(json.dumps(res))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
