"""Decoding and prefill at the hardware's limits: what ``perf.py --decode`` measures in one worker process.

For one configuration (``small`` on CPU, ``3b``/``9b`` on CUDA), 8-shot VQAv2 prompts (9 images):

- traffic of one decoding step at 32 prompts x 3 beams (``fseval.instruments.traffic``): bytes written by
  copying operators as a share of the key/value cache, ``nonzero`` calls and host synchronisations,
  for fseval's decoding loop, for ``generate`` with the in-place cache (``static_kv_cache``), and for
  ``generate`` with transformers' own cache, and whether all three generate the same;
- per batch size (8/32/64 by default), greedy and 3 beams, 5 new tokens: prefill seconds, TFLOP/s
  and MFU (dense FLOPs = 2 x the language model's non-embedding parameters x prompt tokens, against
  the device's peak: ``PEAK_TFLOPS``), decode ms per step and GB/s against the bytes a step must
  read (the language model's weights once, and every row's keys/values).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

# bf16 dense peak, TFLOP/s, by a substring of torch.cuda.get_device_name(); CPUs: no MFU.
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "4090": 165.0}


def peak_tflops(device: str) -> float | None:
    import torch

    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name(torch.device(device))
    return next((peak for key, peak in PEAK_TFLOPS.items() if key in name), None)


def eight_shot_prompts(work: Path, count: int) -> list[Any]:
    from PIL import Image

    from fseval.types import Media, Prompt

    paths = sorted((work / "vqav2" / "train2014").glob("*.jpg"))[:9]
    media = tuple(Media(str(p), (Image.open(p).convert("RGB"),)) for p in paths)
    demo = "<image>Question:What is the man holding in his left hand? Short answer:a red umbrella<|endofchunk|>"
    return [Prompt(demo * 8 + f"<image>Question:What colour is object {i}? Short answer:", media) for i in range(count)]


def lm_parameters(adapter: Any) -> tuple[int, int]:
    """(non-embedding parameters of the language model with its cross-attention blocks, bytes of all its weights)."""
    lm = adapter.model.lang_encoder
    embeddings = {
        id(p) for module in lm.modules() if module.__class__.__name__ == "Embedding" for p in module.parameters()
    }
    output = lm.get_output_embeddings()
    embeddings |= {id(p) for p in output.parameters()} if output is not None else set()
    params = list(lm.parameters())
    dense = sum(p.numel() for p in params if id(p) not in embeddings)
    return dense, sum(p.numel() * p.element_size() for p in params)


# (name, decoding loop, in-place cache): fseval's loop reads its stop flag a step late, as it does on CUDA.
TRAFFIC_VARIANTS = (("fseval", "fseval", True), ("generate", "transformers", True), ("before", "transformers", False))


def traffic(adapter: Any, prompts: list[Any]) -> dict[str, Any]:
    from fseval.instruments.traffic import step_traffic
    from fseval.models.settings import switched
    from fseval.types import GenerationSettings

    beams = GenerationSettings(max_new_tokens=5, min_new_tokens=5, num_beams=3, length_penalty=0.0)
    greedy = GenerationSettings(max_new_tokens=5, num_beams=1)
    out: dict[str, Any] = {}
    for name, loop, static in TRAFFIC_VARIANTS:
        with switched(adapter, decoding_loop=loop, static_kv_cache=static, stop_lag=1):
            measured = step_traffic(adapter, prompts, beams, step=2)
            out[name] = {
                "copied_fraction": measured.copied_fraction,
                "copied_mb": sum(measured.copied.values()) / 1e6,
                "cache_mb": measured.cache_bytes / 1e6,
                "nonzero": measured.calls["nonzero"],
                "syncs": measured.syncs,
                "answers": [adapter.generate(prompts[:8], beams), adapter.generate(prompts[:8], greedy)],
            }
    answers = [out[name].pop("answers") for name, *_ in TRAFFIC_VARIANTS]
    out["same_answers"] = all(a == answers[0] for a in answers)
    return out


def sweep(adapter: Any, prompts: list[Any], batches: list[int], device: str) -> list[dict[str, Any]]:
    """Per beams and batch: prefill and decode speed; on CUDA once more with decoding steps replayed from a
    CUDA graph (``cuda_graphs``), whose answers must equal the eager ones."""
    from fseval.models.settings import switched
    from fseval.types import GenerationSettings

    rows = []
    for beams in (1, 3):
        settings = GenerationSettings(max_new_tokens=5, min_new_tokens=5, num_beams=beams, length_penalty=0.0)
        for batch in batches:
            eager: list[str] = []
            for graphs in (False, True) if device.startswith("cuda") else (False,):
                with switched(adapter, cuda_graphs=graphs):
                    row, answers = _timed(adapter, prompts[:batch], settings, device)
                rows.append({**row, "beams": beams, "graphs": graphs, "same": answers == eager if graphs else None})
                eager = eager or answers
    return rows


def _timed(adapter: Any, chosen: list[Any], settings: Any, device: str) -> tuple[dict[str, Any], list[str]]:
    import torch

    dense, weight_bytes = lm_parameters(adapter)
    peak = peak_tflops(device)
    adapter.generate(chosen[:2], settings)  # warm up (media now cached, as after a run's first batch)
    adapter.stage_seconds.clear()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    answers = adapter.generate(chosen, settings)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    batch, beams = len(chosen), settings.num_beams
    tokens = sum(len(adapter.tokenizer(p.text)["input_ids"]) for p in chosen)
    steps = settings.max_new_tokens - 1  # the first token comes with the prompt pass
    prefill, decode = adapter.stage_seconds["prefill"], adapter.stage_seconds["decode"]
    cache_bytes = _cache_bytes(adapter, batch * beams, tokens // batch + settings.max_new_tokens // 2)
    tflops = 2 * dense * tokens / prefill / 1e12
    step_s = decode / steps
    step_bytes = weight_bytes + cache_bytes
    row = {
        "batch": batch, "wall_s": wall, "prompt_tokens": tokens, "prefill_s": prefill, "prefill_tflops": tflops,
        "mfu": tflops / peak if peak else None, "decode_ms_per_step": 1000 * step_s,
        "gb_per_s": step_bytes / step_s / 1e9, "bytes_per_step_gb": step_bytes / 1e9,
    }  # fmt: skip
    return row, answers


def _cache_bytes(adapter: Any, rows: int, length: int) -> int:
    """Keys and values of every self-attention layer for ``rows`` rows of ``length`` tokens."""
    config = adapter.model.lang_encoder.config
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layers", 0)
    width = getattr(config, "hidden_size", None) or getattr(config, "d_model", 0)
    kv_heads = getattr(config, "num_key_value_heads", None)
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_heads", 1)
    if kv_heads:
        width = width * kv_heads // heads
    element = next(adapter.model.lang_encoder.parameters()).element_size()
    return int(2 * layers * rows * length * width * element)


SWEEP_HEAD = (
    "beams", "batch", "CUDA graphs", "prompt tokens", "prefill s", "prefill TFLOP/s", "MFU", "decode ms/step",
    "GB/s (read)",
)  # fmt: skip


def table(result: dict[str, Any]) -> str:
    t = result["traffic"]
    on, gen, off = t["fseval"], t["generate"], t["before"]
    lines = [
        f"one decoding step, 32 prompts x 3 beams, 8 shots (cache {on['cache_mb']:.0f} MB), fseval's loop / "
        f"generate with the in-place cache / generate with transformers' cache: copied "
        f"{100 * on['copied_fraction']:.1f}% / {100 * gen['copied_fraction']:.1f}% / "
        f"{100 * off['copied_fraction']:.0f}% of it; nonzero {on['nonzero']} / {gen['nonzero']} / {off['nonzero']}; "
        f"host syncs {on['syncs']} / {gen['syncs']} / {off['syncs']}; "
        f"same answers (3 beams and greedy): {'yes' if t['same_answers'] else 'NO'}",
        "",
        "| " + " | ".join(SWEEP_HEAD) + " |",
        "|" + "---|" * len(SWEEP_HEAD),
    ]
    for r in result["sweep"]:
        cells = [
            str(r["beams"]),
            str(r["batch"]),
            ("on, same answers" if r["same"] else "on, ANSWERS DIFFER") if r["graphs"] else "off",
            str(r["prompt_tokens"]),
            f"{r['prefill_s']:.2f}",
            f"{r['prefill_tflops']:.2f}",
            f"{100 * r['mfu']:.0f}%" if r["mfu"] is not None else "-",
            f"{r['decode_ms_per_step']:.1f}",
            f"{r['gb_per_s']:.1f} of {r['bytes_per_step_gb']:.2f} GB",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
