"""Parity with the reference implementation (PyPI ``open-flamingo`` 2.0.1) on tiny models, in fseval's own environment.

This compares the model code only: both sides run on the same (new) libraries, so it cannot see
drift in them. The evidence for fidelity to the release-era stack is the recorded fixture
(``test_openflamingo_fidelity.py``, docs/fidelity.md).

Install: ``pip install --no-deps open-flamingo==2.0.1 einops einops-exts`` (its pins, torch 2.0.1,
would otherwise replace ours). The reference runs on current torch/transformers unpatched for
these families; GPT-2 is left out because the reference's FlamingoLayer takes the decoder
layer's arguments by keyword only, and current GPT-2 passes them positionally.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("einops_exts")
reference = pytest.importorskip("open_flamingo.src.flamingo")

from open_flamingo.src.flamingo_lm import FlamingoLMMixin  # noqa: E402
from open_flamingo.src.utils import extend_instance  # noqa: E402

from fseval.models.openflamingo import load_model_dir, make_tiny  # noqa: E402
from fseval.models.openflamingo.loader import load_language_model, load_tokenizer, resize_embeddings  # noqa: E402

TEXTS = [
    "<image>Question:What is it? Short answer:cat<|endofchunk|><image>Question:What color? Short answer:",
    "Output:A dog<|endofchunk|><image>Output:",
    "<image>Output:two<|endofchunk|>\n<image>Output:A",
]


def build_reference(ours, directory: Path):
    import open_clip

    args = ours.arguments
    clip = open_clip.create_model(args["vision_encoder"], pretrained=args["vision_pretrained"])
    clip.visual.output_tokens = True
    tokenizer = load_tokenizer(args["lm"])
    lm = load_language_model(args["lm"], torch.float32)
    resize_embeddings(lm, len(tokenizer))
    extend_instance(lm, FlamingoLMMixin)
    lm.set_decoder_layers_attr_name(ours.model.decoder_layers_attr_name)
    ref = reference.Flamingo(
        clip,
        lm,
        tokenizer.encode("<|endofchunk|>")[-1],
        tokenizer.encode("<image>")[-1],
        vis_dim=ours.model.vis_dim,
        cross_attn_every_n_layers=ours.model.cross_attn_every_n_layers,
    )
    ref.load_state_dict(ours.model.state_dict(), strict=False)  # the reference also holds aliases
    missing = [k for k in ref.state_dict() if k not in ours.model.state_dict()]
    assert all("old_decoder_blocks" in k or "gated_cross_attn_layers" in k for k in missing)
    return ref.eval()


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("lm_family", ["gpt_neox", "mosaic_gpt", "mpt", "llama", "opt", "gptj"])
def test_logits_and_generations_match_reference(tmp_path: Path, lm_family: str) -> None:
    ours = load_model_dir(
        make_tiny(tmp_path, lm_family=lm_family, cross_attn_every_n_layers=2 if lm_family == "llama" else 1)
    )
    ref = build_reference(ours, tmp_path)
    tokenizer = ours.tokenizer
    torch.manual_seed(1)
    vision_x = torch.randn(3, 2, 1, 3, 32, 32)
    batch = tokenizer(TEXTS, padding="longest", return_tensors="pt")
    with torch.inference_mode():
        a = ours.model(vision_x, batch.input_ids, attention_mask=batch.attention_mask).logits
        b = ref(vision_x, batch.input_ids, attention_mask=batch.attention_mask).logits
    real = batch.attention_mask.bool()  # left-padding positions are not compared
    assert (a - b)[real].abs().max() <= 1e-5 * max(1.0, a[real].abs().max().item())
    for num_beams in (1, 3):
        kwargs = {
            "max_new_tokens": 8,
            "num_beams": num_beams,
            "pad_token_id": tokenizer.pad_token_id,
            "do_sample": False,
        }
        with torch.inference_mode():
            ours_out = ours.model.generate(vision_x, batch.input_ids, attention_mask=batch.attention_mask, **kwargs)
            ref_out = ref.generate(vision_x, batch.input_ids, attention_mask=batch.attention_mask, **kwargs)
        assert torch.equal(ours_out, ref_out), num_beams
