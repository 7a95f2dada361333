"""What ``--compat openflamingo`` changes in ranking: the attention of OpenFlamingo's evaluate.py.

``get_rank_classifications`` runs the prompts with their padding mask, then feeds each class name
a token at a time with ``attention_mask=None``: the class-name tokens attend to the left padding
of the shorter prompts in the batch. What they read there are the padding positions' keys and
values, which depend on how transformers 4.33 computed a query row whose keys are all masked. Each
LM family combined its causal and padding masks its own way, with the dtype's minimum standing for
"masked", so such a row spread its attention uniformly over some set of keys:

- GPT-NeoX (RedPajama-INCITE, OpenFlamingo-4B), LLaMA, GPT-J, GPT-2: the causal mask holds (or
  replaces scores with) the minimum and the padding mask adds it, so earlier padding keys and every
  real key (later ones included) come out at exactly the minimum, later padding keys at ``-inf``:
  the row averages the former.
- MPT and OPT: masked scores are set to, or clamped at, the minimum, so the row averages every key.
  fseval's MosaicGPT (OpenFlamingo-3B) sets its bias that way already.

``prompt_mask`` returns the additive (B, 1, L, L) mask that gives the same rows on today's
transformers, which takes a 4D mask as it is; ``prompt_positions`` the position ids a plain 4.33
forward used (0, 1, ... from the padded start, except OPT's, counted over real tokens, padding -1).
"""

from __future__ import annotations

import torch

AS_IS = ("mosaic_gpt",)  # fseval's own masking computes 4.33's rows
EVERY_KEY = ("mpt", "opt")


def prompt_mask(attention_mask: torch.Tensor, model_type: str, dtype: torch.dtype) -> torch.Tensor:
    """The ranking prompt pass's mask under ``--compat openflamingo``: (B, L) -> additive (B, 1, L, L)."""
    if model_type in AS_IS:
        return attention_mask
    length = attention_mask.shape[1]
    real = attention_mask.bool()[:, None, None, :]  # over keys
    causal = torch.ones(length, length, dtype=torch.bool, device=attention_mask.device).tril()[None, None]
    mask = torch.full(
        (attention_mask.shape[0], 1, length, length), torch.finfo(dtype).min, dtype=dtype, device=attention_mask.device
    )
    mask = mask.masked_fill(real & causal, 0.0)
    if model_type not in EVERY_KEY:
        mask = mask.masked_fill(~real & ~causal, float("-inf"))
    return mask


def prompt_positions(attention_mask: torch.Tensor, model_type: str) -> dict[str, torch.Tensor]:
    """Position ids for the prompt pass, as a plain transformers 4.33 forward computed them (empty: the default)."""
    if model_type != "opt":
        return {}
    mask = attention_mask.long()
    return {"position_ids": mask.cumsum(-1) * mask - 1}
