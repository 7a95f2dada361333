"""Decoding and prefill at the hardware's limits: what ``perf.py --decode`` measures in one worker process.

For one configuration (``small`` on CPU, ``3b``/``9b`` on CUDA), 8-shot VQAv2 prompts (9 images):

- traffic of one decoding step at 32 prompts x 3 beams (``fseval.models.traffic``): bytes written by
  copying operators as a share of the key/value cache, ``nonzero`` calls and host synchronisations,
  with the in-place decoding cache (``static_kv_cache``) on and off, and whether both generate the same;
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


def traffic(adapter: Any, prompts: list[Any]) -> dict[str, Any]:
    from fseval.models.traffic import step_traffic
    from fseval.types import GenerationSettings

    beams = GenerationSettings(max_new_tokens=5, min_new_tokens=5, num_beams=3, length_penalty=0.0)
    greedy = GenerationSettings(max_new_tokens=5, num_beams=1)
    out: dict[str, Any] = {}
    for static in (True, False):
        adapter.static_kv_cache = static
        measured = step_traffic(adapter, prompts, beams, step=2)
        out["on" if static else "off"] = {
            "copied_fraction": measured.copied_fraction,
            "copied_mb": sum(measured.copied.values()) / 1e6,
            "cache_mb": measured.cache_bytes / 1e6,
            "nonzero": measured.calls["nonzero"],
            "syncs": measured.syncs,
            "answers": [adapter.generate(prompts[:8], beams), adapter.generate(prompts[:8], greedy)],
        }
    adapter.static_kv_cache = True
    out["same_answers"] = out["on"].pop("answers") == out["off"].pop("answers")
    return out


def sweep(adapter: Any, prompts: list[Any], batches: list[int], device: str) -> list[dict[str, Any]]:
    import torch

    from fseval.types import GenerationSettings

    dense, weight_bytes = lm_parameters(adapter)
    peak = peak_tflops(device)
    rows = []
    for beams in (1, 3):
        settings = GenerationSettings(max_new_tokens=5, min_new_tokens=5, num_beams=beams, length_penalty=0.0)
        for batch in batches:
            chosen = prompts[:batch]
            adapter.generate(chosen[:2], settings)  # warm up (media now cached, as after a run's first batch)
            adapter.stage_seconds.clear()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            adapter.generate(chosen, settings)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            wall = time.perf_counter() - start
            tokens = sum(len(adapter.tokenizer(p.text)["input_ids"]) for p in chosen)
            steps = settings.max_new_tokens - (1 if beams == 1 else 0)  # greedy's first token comes with the prompt
            prefill, decode = adapter.stage_seconds["prefill"], adapter.stage_seconds["decode"]
            cache_bytes = _cache_bytes(adapter, batch * beams, tokens // batch + settings.max_new_tokens // 2)
            tflops = 2 * dense * tokens / prefill / 1e12
            step_s = decode / steps
            rows.append(
                {
                    "beams": beams, "batch": batch, "wall_s": wall, "prompt_tokens": tokens,
                    "prefill_s": prefill, "prefill_tflops": tflops, "mfu": tflops / peak if peak else None,
                    "decode_ms_per_step": 1000 * step_s, "gb_per_s": (weight_bytes + cache_bytes) / step_s / 1e9,
                    "bytes_per_step_gb": (weight_bytes + cache_bytes) / 1e9,
                }
            )  # fmt: skip
    return rows


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


SWEEP_HEAD = ("beams", "batch", "prompt tokens", "prefill s", "prefill TFLOP/s", "MFU", "decode ms/step", "GB/s (read)")


def table(result: dict[str, Any]) -> str:
    on, off = result["traffic"]["on"], result["traffic"]["off"]
    lines = [
        f"one decoding step, 32 prompts x 3 beams, 8 shots (cache {on['cache_mb']:.0f} MB): "
        f"copied {100 * on['copied_fraction']:.1f}% of it with static_kv_cache, {100 * off['copied_fraction']:.0f}% "
        f"without; nonzero {on['nonzero']} / {off['nonzero']}; host syncs {on['syncs']} / {off['syncs']}; "
        f"same answers (3 beams and greedy): {'yes' if result['traffic']['same_answers'] else 'NO'}",
        "",
        "| " + " | ".join(SWEEP_HEAD) + " |",
        "|" + "---|" * len(SWEEP_HEAD),
    ]
    for r in result["sweep"]:
        cells = [
            str(r["beams"]),
            str(r["batch"]),
            str(r["prompt_tokens"]),
            f"{r['prefill_s']:.2f}",
            f"{r['prefill_tflops']:.2f}",
            f"{100 * r['mfu']:.0f}%" if r["mfu"] is not None else "-",
            f"{r['decode_ms_per_step']:.1f}",
            f"{r['gb_per_s']:.1f} of {r['bytes_per_step_gb']:.2f} GB",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
