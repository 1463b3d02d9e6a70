#!/usr/bin/env python3
"""LoRA training throughput of PyTorch + transformers + PEFT on the shapes of `panlora bench train --device cuda`.

The reference that panlora's CUDA numbers are compared with (ci/gpu-check.sh runs both and joins them in one table).
Runs on a CUDA machine; nothing is downloaded: each model is a LlamaForCausalLM built from numbers with random weights.

What one step is, for every preset:
  - base model: LLaMA in bf16 on the GPU (`attn_implementation="sdpa"`, no KV cache), weights frozen;
  - adapters: PEFT LoRA (`get_peft_model`, `LoraConfig(r, lora_alpha=2r, all seven linears, dropout 0, bias "none")`),
    PEFT's default dtype handling kept: with `autocast_adapter_dtype=True` (its default) the LoRA weights of a bf16
    model are float32, and the LoRA path runs in float32 (the dtype is printed and written to the JSON);
  - data: batch x tokens random token ids (seeded), the same batch every step; loss = model(ids, labels=ids).loss
    (next-token cross-entropy, shifted inside transformers);
  - optimizer: torch.optim.AdamW on the LoRA parameters only (fused when available), lr 1e-4, weight decay 0,
    no gradient clipping (as panlora's benchmark);
  - 2 warm-up steps, then --reps timed steps (torch.cuda.synchronize around each); tokens/s = batch*tokens / (s/step);
    peak = torch.cuda.max_memory_allocated over warm-up and timed steps (weights included).
  - model FLOPs per step counted as panlora's `bench train` counts them (4*N_matrices*tokens + attention x3 + LoRA),
    MFU against a bf16 8192^3 torch.matmul measured in the same run.

A preset that runs out of memory is retried with gradient checkpointing (said so in its row); if that fails too, its
row says "OOM". Every preset runs in its own try/except; the JSON is rewritten after each one.

Exit status: 0 when it ran (whatever the rows say), 2 when it cannot run here (no PyTorch, no CUDA GPU, or no
transformers/peft), 1 on bad arguments.
"""
import argparse
import gc
import json
import math
import os
import platform
import sys
import time
import traceback

# name: (hidden, layers, heads, kv heads, head_dim, ffn, vocab, rope theta) -- as panlora's Presets.java
PRESETS = {
    "125m": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=12, head_dim=64,
                 intermediate_size=2048, vocab_size=32000, rope_theta=10000.0),
    "1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8, head_dim=64,
               intermediate_size=8192, vocab_size=128256, rope_theta=500000.0),
    "3b": dict(hidden_size=3072, num_hidden_layers=28, num_attention_heads=24, num_key_value_heads=8, head_dim=128,
               intermediate_size=8192, vocab_size=128256, rope_theta=500000.0),
    "8b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, head_dim=128,
               intermediate_size=14336, vocab_size=128256, rope_theta=500000.0),
}
ALL_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SHORT_TARGETS = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj", "gate": "gate_proj", "up": "up_proj",
                 "down": "down_proj"}


def log(msg=""):
    print(msg, flush=True)


def parse_targets(text):
    """'all' | 'attn' | 'ffn' | comma list of q,k,v,o,gate,up,down or their *_proj names -> ordered list of HF names."""
    out = []
    for part in text.split(","):
        p = part.strip().lower()
        if not p:
            continue
        if p == "all":
            names = ALL_TARGETS
        elif p in ("attn", "qkvo"):
            names = ALL_TARGETS[:4]
        elif p in ("ffn", "mlp"):
            names = ALL_TARGETS[4:]
        elif p in SHORT_TARGETS:
            names = [SHORT_TARGETS[p]]
        elif p in ALL_TARGETS:
            names = [p]
        else:
            raise ValueError(f"unknown target '{part}' (q,k,v,o,gate,up,down, their *_proj names, attn, ffn, all)")
        out += [n for n in names if n not in out]
    if not out:
        raise ValueError("no targets")
    return out


def step_flops(shape, batch, tokens, rank, targets):
    """FLOPs of one LoRA step, counted as panlora's BenchCommand.loraStepFlops: 4*N_matrices*tokens for the frozen
    matrices (forward + input gradients, output layer included), attention 3x its causal forward (2*T*q per token and
    layer), and 6*r*(in+out) per token for each adapted linear."""
    d = shape["hidden_size"]
    L = shape["num_hidden_layers"]
    q = shape["num_attention_heads"] * shape["head_dim"]
    kv = shape["num_key_value_heads"] * shape["head_dim"]
    f = shape["intermediate_size"]
    V = shape["vocab_size"]
    n_tok = batch * tokens
    matrices = L * (d * (q + 2 * kv) + q * d + 3.0 * d * f) + d * V
    attn = L * 2.0 * tokens * tokens * q * (n_tok / tokens) * 3
    io = {"q_proj": d + q, "k_proj": d + kv, "v_proj": d + kv, "o_proj": q + d,
          "gate_proj": d + f, "up_proj": d + f, "down_proj": f + d}
    lora = L * 6.0 * rank * sum(io[t] for t in targets) * n_tok
    return 4 * matrices * n_tok + attn + lora


def write_json(path, doc):
    if not path:
        return
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def is_oom(torch, exc):
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None) or getattr(torch, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    msg = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in msg.lower() or "CUBLAS_STATUS_ALLOC_FAILED" in msg)


def free_memory(torch):
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def measure_peak_tflops(torch, n=8192, warmup=3, reps=10):
    """bf16 n^3 matrix product through torch.matmul on random data: the ceiling MFU is counted against."""
    g = torch.Generator(device="cuda").manual_seed(1)
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16, generator=g)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16, generator=g)
    for _ in range(warmup):
        c = a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(reps):
        c = a @ b
    end.record()
    torch.cuda.synchronize()
    ms = start.elapsed_time(end) / reps
    del a, b, c
    free_memory(torch)
    return 2.0 * n ** 3 / (ms * 1e-3) / 1e12


def rope_theta_of(cfg):
    rp = getattr(cfg, "rope_parameters", None)
    if isinstance(rp, dict) and "rope_theta" in rp:
        return rp["rope_theta"]
    return getattr(cfg, "rope_theta", None)


def build_model(torch, LlamaConfig, LlamaForCausalLM, shape, args):
    """A random-init LlamaForCausalLM in bf16 on the GPU (built there directly: no fp32 copy on the host)."""
    theta = shape["rope_theta"]
    cfg_args = {k: v for k, v in shape.items() if k != "rope_theta"}
    cfg = LlamaConfig(**cfg_args, max_position_embeddings=max(args.tokens, 8192), rms_norm_eps=1e-5,
                      rope_theta=theta, tie_word_embeddings=False, use_cache=False, attn_implementation="sdpa")
    got = rope_theta_of(cfg)
    if got is None or abs(float(got) - theta) > 1e-3 * theta:
        # transformers >= 5 keeps RoPE settings in rope_parameters; older versions in rope_theta
        if isinstance(getattr(cfg, "rope_parameters", None), dict):
            cfg.rope_parameters["rope_theta"] = theta
        else:
            cfg.rope_theta = theta
    prev = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.bfloat16)
        with torch.device("cuda"):
            model = LlamaForCausalLM(cfg)
    except Exception as exc:  # noqa: BLE001 -- anything but OOM: fall back to the plain way
        if is_oom(torch, exc):
            raise
        log(f"  (building on the GPU failed: {type(exc).__name__}: {exc}; building on the host, then moving)")
        torch.set_default_dtype(prev)
        model = LlamaForCausalLM(cfg)
    finally:
        torch.set_default_dtype(prev)
    model = model.to(dtype=torch.bfloat16).cuda()
    return model, cfg


def measure(name, checkpointing, args, ctx):
    torch = ctx["torch"]
    shape = PRESETS[name]
    free_memory(torch)
    model, cfg = build_model(torch, ctx["LlamaConfig"], ctx["LlamaForCausalLM"], shape, args)
    n_params = sum(p.numel() for p in model.parameters())
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lcfg = ctx["LoraConfig"](r=args.rank, lora_alpha=args.alpha if args.alpha else 2 * args.rank,
                             target_modules=list(args.target_list), lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
    model = ctx["get_peft_model"](model, lcfg)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    n_lora = sum(p.numel() for p in params)
    lora_dtypes = sorted({str(p.dtype).replace("torch.", "") for p in params})
    try:
        opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0, fused=True)
        opt_desc = "AdamW fused"
    except (TypeError, RuntimeError, ValueError) as exc:
        opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
        opt_desc = f"AdamW (not fused: {exc})"
    attn_impl = getattr(model.config, "_attn_implementation", None) or getattr(cfg, "_attn_implementation", None)
    weights_gib = torch.cuda.memory_allocated() / 2 ** 30

    g = torch.Generator(device="cuda").manual_seed(args.seed)
    ids = torch.randint(0, shape["vocab_size"], (args.batch, args.tokens), device="cuda", generator=g)

    def step():
        out = model(input_ids=ids, labels=ids, use_cache=False)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss.detach()

    torch.cuda.reset_peak_memory_stats()
    first = None
    for _ in range(args.warmup):
        loss = step()
        first = loss if first is None else first
    torch.cuda.synchronize()
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        loss = step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    first_loss = float(first.item()) if first is not None else float("nan")
    last_loss = float(loss.item())
    peak_gib = torch.cuda.max_memory_allocated() / 2 ** 30
    reserved_gib = torch.cuda.max_memory_reserved() / 2 ** 30
    s_step = sum(times) / len(times)
    flops = step_flops(shape, args.batch, args.tokens, args.rank, args.target_list)
    row = {
        "preset": name, "type": "BF16", "status": "ok" if math.isfinite(last_loss) else "error: non-finite loss",
        "gradient_checkpointing": bool(checkpointing),
        "batch": args.batch, "tokens": args.tokens, "rank": args.rank, "targets": list(args.target_list),
        "s_per_step": s_step, "s_per_step_min": min(times), "s_per_step_max": max(times),
        "tokens_per_s": args.batch * args.tokens / s_step,
        "model_tflops": flops / s_step / 1e12, "step_flops": flops,
        "mfu": (flops / s_step / 1e12) / ctx["peak_tflops"] if ctx.get("peak_tflops") else None,
        "peak_gib": peak_gib, "peak_reserved_gib": reserved_gib, "weights_gib": weights_gib,
        "params": n_params, "lora_params": n_lora, "lora_dtype": ",".join(lora_dtypes),
        "optimizer": opt_desc, "attn_implementation": attn_impl, "rope_theta": rope_theta_of(cfg),
        "loss_first": first_loss, "loss_last": last_loss,
    }
    del model, opt, params, ids, loss, first
    return row


def run_preset(name, args, ctx):
    """One preset: without gradient checkpointing (unless asked), then with it after an OOM."""
    torch = ctx["torch"]
    modes = [True] if args.gradient_checkpointing else ([False] if args.no_retry else [False, True])
    errors = []
    for ckpt in modes:
        try:
            row = measure(name, ckpt, args, ctx)
        except Exception as exc:  # noqa: BLE001
            if not is_oom(torch, exc):
                raise
            errors.append(f"OOM {'with' if ckpt else 'without'} gradient checkpointing")
            row = None
        free_memory(torch)
        if row is not None:
            if errors:
                row["note"] = "; ".join(errors) + ": retried with gradient checkpointing"
            return row
    return {"preset": name, "type": "BF16", "status": "OOM", "note": "; ".join(errors),
            "batch": args.batch, "tokens": args.tokens, "rank": args.rank, "targets": list(args.target_list)}


def fmt_row(r):
    if r.get("status") != "ok":
        return f"peft {r['preset']:<5} BF16  {r.get('status')}" + (f"  ({r['note']})" if r.get("note") else "")
    mfu = f"{100 * r['mfu']:5.1f}%" if r.get("mfu") is not None else "    -"
    return (f"peft {r['preset']:<5} BF16  s/step {r['s_per_step']:8.4f}  tokens/s {r['tokens_per_s']:10.0f}  "
            f"model TFLOP/s {r['model_tflops']:6.1f}  MFU {mfu}  peak {r['peak_gib']:6.2f} GiB  "
            f"loss {r['loss_first']:.3f} -> {r['loss_last']:.3f}  LoRA {r['lora_dtype']}  "
            f"checkpointing {'on' if r['gradient_checkpointing'] else 'off'}"
            + (f"  ({r['note']})" if r.get("note") else ""))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="125m,1b,3b", help=f"comma list of {', '.join(PRESETS)} (default: %(default)s)")
    ap.add_argument("--batch", type=int, default=8, help="sequences per step (default: %(default)s)")
    ap.add_argument("--tokens", type=int, default=2048, help="tokens per sequence (default: %(default)s)")
    ap.add_argument("--rank", type=int, default=16, help="LoRA rank (default: %(default)s)")
    ap.add_argument("--alpha", type=float, default=0, help="LoRA alpha (default: 2 x rank)")
    ap.add_argument("--targets", default="all", help="adapted linears: all, attn, ffn or a list of q,k,v,o,gate,up,down "
                                                     "(default: %(default)s)")
    ap.add_argument("--reps", type=int, default=3, help="timed steps (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (default: %(default)s)")
    ap.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="token ids seed (default: %(default)s)")
    ap.add_argument("--json", default="", help="write the results here (rewritten after each preset)")
    ap.add_argument("--gradient-checkpointing", action="store_true",
                    help="always use gradient checkpointing (default: only as a retry after an OOM)")
    ap.add_argument("--no-retry", action="store_true", help="no retry with gradient checkpointing after an OOM")
    ap.add_argument("--no-peak", action="store_true", help="skip the bf16 matmul peak (no MFU column)")
    ap.add_argument("--time-limit", type=float, default=0,
                    help="seconds: presets not started by then (less 15 s) are skipped, so that a caller's timeout "
                         "still leaves a complete JSON (default: none)")
    args = ap.parse_args(argv)
    t_start = time.monotonic()
    try:
        presets = [p.strip().lower() for p in args.preset.split(",") if p.strip()]
        for p in presets:
            if p not in PRESETS:
                raise ValueError(f"unknown preset '{p}' (known: {', '.join(PRESETS)})")
        args.target_list = parse_targets(args.targets)
        if min(args.batch, args.tokens, args.rank, args.reps) < 1 or args.warmup < 0:
            raise ValueError("--batch, --tokens, --rank and --reps must be positive, --warmup non-negative")
    except ValueError as exc:
        log(f"peft_baseline: {exc}")
        return 1

    try:
        import torch
    except Exception as exc:  # noqa: BLE001
        log(f"peft_baseline: PyTorch cannot be imported ({exc}); this baseline runs on the GPU machine. Nothing measured.")
        return 2
    if not torch.cuda.is_available():
        log(f"peft_baseline: no CUDA GPU visible to PyTorch {torch.__version__} (torch.cuda.is_available() is False). "
            "Nothing measured.")
        return 2
    try:
        import transformers
        import peft
        from transformers import LlamaConfig, LlamaForCausalLM
        from peft import LoraConfig, get_peft_model
    except Exception as exc:  # noqa: BLE001
        log(f"peft_baseline: transformers or peft cannot be imported ({type(exc).__name__}: {exc}). Nothing measured.")
        return 2

    dev = torch.cuda.get_device_properties(0)
    env = {
        "gpu": torch.cuda.get_device_name(0), "capability": f"{dev.major}.{dev.minor}",
        "gpu_memory_gib": dev.total_memory / 2 ** 30,
        "torch": torch.__version__, "cuda": torch.version.cuda, "transformers": transformers.__version__,
        "peft": peft.__version__, "python": platform.python_version(),
    }
    log(f"peft_baseline: {env['gpu']} (sm_{dev.major}{dev.minor}, {env['gpu_memory_gib']:.0f} GiB); torch {env['torch']} "
        f"(CUDA {env['cuda']}), transformers {env['transformers']}, peft {env['peft']}, python {env['python']}")
    log(f"peft_baseline: LoRA r={args.rank} alpha={args.alpha or 2 * args.rank} on {','.join(args.target_list)}; "
        f"batch {args.batch} x {args.tokens} tokens; {args.warmup} warm-up + {args.reps} timed steps; bf16 base "
        f"(sdpa attention), PEFT's default adapter dtype; AdamW lr {args.lr}, no weight decay, no clipping")
    peak = None
    if not args.no_peak:
        try:
            peak = measure_peak_tflops(torch)
            log(f"peft_baseline: bf16 matmul 8192^3 (torch.matmul, random data): {peak:.1f} TFLOP/s (the MFU reference)")
        except Exception as exc:  # noqa: BLE001
            log(f"peft_baseline: the bf16 matmul peak failed ({type(exc).__name__}: {exc}); no MFU")
    ctx = {"torch": torch, "LlamaConfig": LlamaConfig, "LlamaForCausalLM": LlamaForCausalLM,
           "LoraConfig": LoraConfig, "get_peft_model": get_peft_model, "peak_tflops": peak}
    doc = {
        "tool": "peft", "env": env, "peak_tflops_bf16": peak,
        "config": {"batch": args.batch, "tokens": args.tokens, "rank": args.rank,
                   "alpha": args.alpha or 2 * args.rank, "targets": args.target_list, "reps": args.reps,
                   "warmup": args.warmup, "lr": args.lr, "seed": args.seed, "dtype": "bfloat16",
                   "attn_implementation": "sdpa",
                   "adapter_dtype": "PEFT default (autocast_adapter_dtype=True: float32 LoRA weights on a bf16 model)",
                   "gradient_checkpointing": "on" if args.gradient_checkpointing else
                   ("off" if args.no_retry else "off; retried with it after an OOM"),
                   "flops": "as panlora bench train: 4*N_matrices*tokens + 3x causal attention + 6*r*(in+out)*tokens "
                            "per adapted linear"},
        "rows": [],
    }
    write_json(args.json, doc)
    for name in presets:
        if args.time_limit and time.monotonic() - t_start > args.time_limit - 15:
            row = {"preset": name, "type": "BF16", "status": "skipped (time limit)"}
        else:
            try:
                row = run_preset(name, args, ctx)
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc(file=sys.stdout)
                row = {"preset": name, "type": "BF16", "status": f"error: {type(exc).__name__}: {str(exc)[:300]}"}
                try:
                    free_memory(torch)
                except Exception:  # noqa: BLE001
                    pass
        doc["rows"].append(row)
        write_json(args.json, doc)
        log(fmt_row(row))
    if args.json:
        log(f"peft_baseline: wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
