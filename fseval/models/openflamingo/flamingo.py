"""The Flamingo model (Alayrac et al. 2022) with OpenFlamingo's module layout and call signature.

``Flamingo(vision_x=, lang_x=, attention_mask=)`` and ``Flamingo.generate(...)`` behave like
``open_flamingo.src.flamingo.Flamingo``: ``vision_x`` is (B, T_img, F, C, H, W), the vision
encoder's patch tokens (``visual(x)[1]`` with ``output_tokens``) go through the Perceiver
Resampler, and gated cross-attention blocks are inserted before every n-th decoder layer of the
wrapped Hugging Face LM. State-dict keys equal OpenFlamingo's (``vision_encoder.*``,
``perceiver.*``, ``lang_encoder.<layers path>.{i}.gated_cross_attn_layer.*`` and
``.decoder_layer.*``), minus OpenFlamingo's duplicate aliases ``lang_encoder.old_decoder_blocks``
and ``lang_encoder.gated_cross_attn_layers`` (the same tensors under a second name, which its
released checkpoints filter out anyway).

Differences from the reference, all outside its numerics: F > 1 frames are accepted (flattened
by the resampler, optionally with frame embeddings), precomputed resampler outputs can be passed
as ``media=``, and tokens that continue a key/value cache attend to the latest image of the cached
prompt plus any new ``<image>`` tokens (the reference restarts its count in that case).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from fseval.models.openflamingo.cross_attention import FlamingoLayer, GatedCrossAttentionBlock, MediaState
from fseval.models.openflamingo.mpt_attention import use_sdpa
from fseval.models.openflamingo.perceiver import PerceiverResampler

# Where each LM family keeps its decoder layers (OpenFlamingo's factory keeps the same table).
DECODER_LAYERS_ATTR = {
    "gpt_neox": "gpt_neox.layers",
    "mpt": "transformer.blocks",
    "mosaic_gpt": "transformer.blocks",
    "llama": "model.layers",
    "opt": "model.decoder.layers",
    "gptj": "transformer.h",
    "gpt2": "transformer.h",
}


def _get_path(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _set_path(obj: Any, path: str, value: Any) -> None:
    parent, _, name = path.rpartition(".")
    setattr(_get_path(obj, parent) if parent else obj, name, value)


def decoder_layers_attr(lang_encoder: nn.Module) -> str:
    """The attribute path of the LM's decoder-layer list: by ``model_type``, else the layer-sized ModuleList."""
    model_type = getattr(lang_encoder.config, "model_type", "")
    if model_type in DECODER_LAYERS_ATTR:
        return DECODER_LAYERS_ATTR[model_type]
    n_layers = getattr(lang_encoder.config, "num_hidden_layers", None)
    for name, module in lang_encoder.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n_layers:
            return name
    raise ValueError(
        f"Cannot find the decoder layers of a {type(lang_encoder).__name__}; pass decoder_layers_attr_name"
    )


def lm_hidden_size(config: Any) -> int:
    # MPT and MosaicGPT call it d_model; OpenFlamingo checks that name first.
    return int(getattr(config, "d_model", None) or config.hidden_size)


class Flamingo(nn.Module):
    def __init__(
        self,
        vision_encoder: nn.Module,
        lang_encoder: nn.Module,
        eoc_token_id: int,
        media_token_id: int,
        vis_dim: int,
        cross_attn_every_n_layers: int = 1,
        decoder_layers_attr_name: str | None = None,
        max_num_frames: int | None = None,
        vision_token_ln: bool = False,
        mpt_sdpa: bool = True,
    ) -> None:
        """``vision_encoder`` is the open_clip tower (``clip.visual``) with ``output_tokens=True``.

        ``vision_token_ln``: whether the patch tokens pass through the tower's final LayerNorm
        (``ln_post``). OpenFlamingo's released models were trained on open_clip <= 2.20, which
        returned them without it (only the pooled vector was normed); open_clip >= 2.23 norms them
        unless ``final_ln_after_pool`` is set. The tower is set to return un-normed tokens and the
        norm is applied here when asked, so the choice does not depend on the installed open_clip.

        ``mpt_sdpa``: transformers' MPT language models (OpenFlamingo-9B) attend through SDPA
        (``mpt_attention.py``; fused kernels on a GPU) instead of their own matmul-softmax.
        """
        super().__init__()
        self.vision_token_ln = vision_token_ln
        if hasattr(vision_encoder, "final_ln_after_pool") and getattr(vision_encoder, "attn_pool", None) is None:
            vision_encoder.final_ln_after_pool = True  # type: ignore[assignment]  # tokens before ln_post
        self.eoc_token_id = eoc_token_id
        self.media_token_id = media_token_id
        self.vis_dim = vis_dim
        self.lang_dim = lm_hidden_size(lang_encoder.config)
        self.cross_attn_every_n_layers = cross_attn_every_n_layers
        self.vision_encoder = vision_encoder
        self.perceiver = PerceiverResampler(dim=vis_dim, max_num_frames=max_num_frames)
        self.lang_encoder = lang_encoder
        if mpt_sdpa and getattr(lang_encoder.config, "model_type", "") == "mpt":
            use_sdpa(lang_encoder)
        self.decoder_layers_attr_name = decoder_layers_attr_name or decoder_layers_attr(lang_encoder)
        self.media_state = MediaState()
        layers = []
        for i, decoder_layer in enumerate(_get_path(lang_encoder, self.decoder_layers_attr_name)):
            xattn = None
            if (i + 1) % cross_attn_every_n_layers == 0:
                xattn = GatedCrossAttentionBlock(dim=self.lang_dim, dim_visual=vis_dim)
            layer = FlamingoLayer(xattn, decoder_layer)
            layer.media_state = self.media_state
            layers.append(layer)
        _set_path(lang_encoder, self.decoder_layers_attr_name, nn.ModuleList(layers))
        forward_params = inspect.signature(lang_encoder.forward).parameters
        # The LM's name for its key/value cache argument (transformers renamed past_key_values to cache).
        self.cache_kwarg = "cache" if "cache" in forward_params else "past_key_values"
        lang_encoder.register_forward_pre_hook(self._locate_media, with_kwargs=True)

    def _locate_media(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Before every LM call (including each step of ``generate``), place its tokens in image time."""
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        if input_ids is None:
            raise ValueError("Flamingo needs input_ids to locate <image> tokens")
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        continuing = cache is not None and cache.get_seq_length() > 0
        self.media_state.locate(input_ids, self.media_token_id, continuing)

    @property
    def layers(self) -> nn.ModuleList:
        return _get_path(self.lang_encoder, self.decoder_layers_attr_name)

    def encode_vision_x(self, vision_x: torch.Tensor) -> torch.Tensor:
        """(B, T_img, F, C, H, W) pixels -> (B, T_img, n_latents, vis_dim) resampled media."""
        if vision_x.ndim != 6:
            raise ValueError(f"vision_x must be (B, T_img, F, C, H, W), got shape {tuple(vision_x.shape)}")
        b, t, f = vision_x.shape[:3]
        tokens = self.vision_tokens(vision_x.flatten(0, 2))
        return self.perceiver(tokens.reshape(b, t, f, *tokens.shape[1:]))

    @torch.no_grad()  # the vision encoder is frozen in Flamingo
    def vision_tokens(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) pixels -> (N, patches, vis_dim): the patch tokens, not the pooled embedding."""
        tokens = self.vision_encoder(pixels)[1]
        return self.vision_encoder.ln_post(tokens) if self.vision_token_ln else tokens  # type: ignore[operator]

    def _condition(self, vision_x: torch.Tensor | None, media: torch.Tensor | None) -> None:
        if media is None:
            if vision_x is None:
                raise ValueError("pass vision_x (pixels) or media (resampled latents)")
            media = self.encode_vision_x(vision_x)
        self.media_state.clear()
        self.media_state.media = media

    def forward(
        self,
        vision_x: torch.Tensor | None,
        lang_x: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        clear_conditioned_layers: bool = True,
        past_key_values: Any = None,
        use_cache: bool = False,
        media: torch.Tensor | None = None,
        **lm_kwargs: Any,
    ) -> Any:
        """One LM forward pass conditioned on ``vision_x`` (or ``media``); returns the LM's output.

        With ``past_key_values`` and no new media, ``lang_x`` continues the cached prompt and keeps
        the media and image positions from the call that built the cache
        (``clear_conditioned_layers=False`` there).
        """
        if vision_x is not None or media is not None:
            last_time = self.media_state.last_time
            self._condition(vision_x, media)
            if past_key_values is not None:
                self.media_state.last_time = last_time
        elif self.media_state.media is None:
            raise ValueError("no media: pass vision_x, or keep the media of a previous call")
        try:
            return self.lang_encoder(
                input_ids=lang_x,
                attention_mask=attention_mask,
                labels=labels,
                use_cache=use_cache,
                **{self.cache_kwarg: past_key_values},
                **lm_kwargs,
            )
        finally:
            if clear_conditioned_layers:
                self.media_state.clear()

    @torch.no_grad()
    def generate(
        self,
        vision_x: torch.Tensor | None,
        lang_x: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        media: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """``lang_encoder.generate`` conditioned on the media; stops at ``<|endofchunk|>`` by default.

        Returns the prompt followed by the generated tokens, as Hugging Face decoder-only models do.
        Beams and multiple return sequences expand the batch; the media follow (repeat_interleave).
        """
        self._condition(vision_x, media)
        kwargs.setdefault("eos_token_id", self.eoc_token_id)
        # MPT configs (OpenFlamingo-3B/9B) say use_cache=false: every step would re-run the whole prompt.
        kwargs.setdefault("use_cache", True)
        try:
            return self.lang_encoder.generate(input_ids=lang_x, attention_mask=attention_mask, **kwargs)  # type: ignore[operator]
        finally:
            self.media_state.clear()
