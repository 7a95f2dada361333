"""Tokenizers set up and decoded as on transformers 4.33, the stack the released Flamingo models were evaluated on.

Two behaviours changed since, and each changes what a released checkpoint sees or says
(docs/fidelity.md has the measurements):

- **Pad token.** transformers 5 gives some tokenizer classes a default pad token that is not in
  their saved files (GPT-NeoX, the tokenizer of every released OpenFlamingo LM, gets
  ``<|padding|>``). On 4.33 those tokenizers had none, so OpenFlamingo added ``<PAD>`` after its
  own two tokens, and its checkpoints' embedding matrices have that many rows. Only the pad
  token the saved files name is kept here.
- **The saved pipeline.** transformers 5 rebuilds some tokenizers' pre-tokenisation from the class
  rather than the saved ``tokenizer.json``: LLaMA's (IDEFICS) prepends "▁" only to the first
  piece of text, where 4.33 ran the file's normaliser, which prepends it to every piece between
  special tokens ("<image>Output" was "▁Output"). The file's pipeline is put back.
- **Decoding clean-up.** 4.33 applied ``clean_up_tokenization_spaces`` (from the saved config,
  else the class default: True but for the LLaMA and BLOOM families) to every tokenizer;
  transformers 5 skips it for BPE tokenizers, so "red , blue" no longer becomes "red, blue",
  and OpenFlamingo's VQA post-processing, which splits at ", ", sees another string.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Tokenizer classes whose 4.33 constructors defaulted to clean_up_tokenization_spaces=False.
_NO_CLEANUP_CLASSES = ("LlamaTokenizer", "CodeLlamaTokenizer", "BloomTokenizer")


def _saved_json(path: str, filename: str) -> dict[str, Any]:
    from transformers.utils.hub import cached_file

    found = cached_file(path, filename, _raise_exceptions_for_missing_entries=False)
    if not found:
        return {}
    value = json.loads(Path(found).read_text(encoding="utf-8"))
    return value if isinstance(value, dict) else {}


def saved_pad_token(path: str) -> str | None:
    """The pad token a tokenizer's saved files name (``special_tokens_map.json``, ``tokenizer_config.json``)."""
    for filename in ("special_tokens_map.json", "tokenizer_config.json"):
        value = _saved_json(path, filename).get("pad_token")
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            return value
    return None


def load_tokenizer(path: str) -> Any:
    """``AutoTokenizer.from_pretrained(path)`` with the special tokens its files name, and no others,
    running the pipeline its ``tokenizer.json`` saved (as 4.33's fast tokenizers did)."""
    from transformers import AutoTokenizer
    from transformers.utils.hub import cached_file

    tokenizer = AutoTokenizer.from_pretrained(path, pad_token=saved_pad_token(path))
    saved = cached_file(path, "tokenizer.json", _raise_exceptions_for_missing_entries=False)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if saved and backend is not None:
        from tokenizers import Tokenizer

        pipeline = Tokenizer.from_file(saved)
        for part in ("normalizer", "pre_tokenizer", "decoder"):
            if repr(getattr(backend, part)) != repr(getattr(pipeline, part)):
                setattr(backend, part, getattr(pipeline, part))
    return tokenizer


def release_era_cleanup(tokenizer: Any) -> bool:
    """Whether transformers 4.33 cleaned up this tokenizer's decoded text."""
    saved = tokenizer.init_kwargs.get("clean_up_tokenization_spaces")
    if isinstance(saved, bool):
        return saved
    name = type(tokenizer).__name__.removesuffix("Fast")
    return name not in _NO_CLEANUP_CLASSES


def clean_up_tokenization(text: str) -> str:
    """transformers 4.33's ``clean_up_tokenization``: drop the space before punctuation and English clitics."""
    for before, after in (
        (" .", "."),
        (" ?", "?"),
        (" !", "!"),
        (" ,", ","),
        (" ' ", "'"),
        (" n't", "n't"),
        (" 'm", "'m"),
        (" 's", "'s"),
        (" 've", "'ve"),
        (" 're", "'re"),
    ):
        text = text.replace(before, after)
    return text


def decode(tokenizer: Any, rows: Sequence[Sequence[int]] | Any, clean_up: bool) -> list[str]:
    """``batch_decode(rows, skip_special_tokens=True)`` as 4.33 did it, with or without the clean-up."""
    texts = tokenizer.batch_decode(rows, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return [clean_up_tokenization(text) for text in texts] if clean_up else list(texts)


def tiny_byte_tokenizer(specials: Sequence[str], **options: Any) -> Any:
    """A Llama/Mistral-style tokenizer for tiny test models, built without a download: ``<unk> <s> </s>``, the
    256 byte-fallback tokens, ``▁`` and printable ASCII, four merges, ``<unk>`` as padding, then ``specials``."""
    import string

    from transformers import LlamaTokenizer

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    vocab.update({f"<0x{byte:02X}>": 3 + byte for byte in range(256)})
    for char in ["▁", *string.ascii_letters, *string.digits, *string.punctuation]:
        vocab.setdefault(char, len(vocab))
    merges = [("▁", "a"), ("▁", "t"), ("h", "e"), ("▁t", "he")]
    for left, right in merges:
        vocab[left + right] = len(vocab)
    tokenizer = LlamaTokenizer(vocab=vocab, merges=merges, pad_token="<unk>", **options)
    tokenizer.add_special_tokens({"additional_special_tokens": list(specials)})
    return tokenizer
