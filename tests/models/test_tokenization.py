"""Tokenizers as transformers 4.33 set them up: the special tokens OpenFlamingo's checkpoints were sized for."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from fseval.models.engine.tokenization import clean_up_tokenization, release_era_cleanup, saved_pad_token
from fseval.models.openflamingo.loader import load_tokenizer


def gpt_neox_20b_like(directory: Path, with_pad: str | None = None) -> Path:
    """A GPT-NeoX tokenizer saved like EleutherAI/gpt-neox-20b's: ``<|padding|>`` in its vocabulary, no pad token."""
    from transformers import GPTNeoXTokenizer

    vocab = {"<|endoftext|>": 0, "<|padding|>": 1, **{c: i + 2 for i, c in enumerate("abcdefghij ĠĊ")}}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(["<|endoftext|>", "<|padding|>"])
    extra = {"pad_token": with_pad} if with_pad else {}
    tokenizer = GPTNeoXTokenizer(tokenizer_object=backend, **extra)
    tokenizer.save_pretrained(directory)
    if not with_pad:  # transformers 5 writes its class default; the released files name no pad token
        for name in ("special_tokens_map.json", "tokenizer_config.json"):
            path = directory / name
            if path.exists():
                import json

                saved = json.loads(path.read_text())
                saved.pop("pad_token", None)
                path.write_text(json.dumps(saved))
    return directory


def test_openflamingo_tokens_on_a_gpt_neox_tokenizer(tmp_path: Path) -> None:
    """transformers 5 would make <|padding|> the pad token: one token fewer than every released checkpoint."""
    directory = gpt_neox_20b_like(tmp_path)
    assert saved_pad_token(str(directory)) is None
    tokenizer = load_tokenizer(str(directory))
    base = 15
    assert tokenizer.convert_tokens_to_ids(["<|endofchunk|>", "<image>", "<PAD>"]) == [base, base + 1, base + 2]
    assert len(tokenizer) == base + 3 and tokenizer.pad_token == "<PAD>" and tokenizer.padding_side == "left"


def test_a_saved_pad_token_is_kept(tmp_path: Path) -> None:
    directory = gpt_neox_20b_like(tmp_path, with_pad="<|padding|>")
    assert saved_pad_token(str(directory)) == "<|padding|>"
    tokenizer = load_tokenizer(str(directory))
    assert tokenizer.pad_token == "<|padding|>" and len(tokenizer) == 15 + 2


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("red , blue . yes ' s", "red, blue. yes's"),
        ("is n't it ? I 'm sure ! we 're here , they 've gone", "isn't it? I'm sure! we're here, they've gone"),
        ("the dog 's ball", "the dog's ball"),
        ("2 . 5", "2. 5"),  # what 4.33 did, right or not
        ("no change here", "no change here"),
    ],
)
def test_clean_up_as_transformers_4_33(text: str, cleaned: str) -> None:
    assert clean_up_tokenization(text) == cleaned


def test_cleanup_default_follows_the_4_33_class_defaults() -> None:
    def tokenizer(class_name: str, **saved: object) -> object:
        return type(class_name, (), {"init_kwargs": saved})()

    assert not release_era_cleanup(tokenizer("LlamaTokenizerFast"))  # 4.33's LLaMA default was False
    assert release_era_cleanup(tokenizer("GPTNeoXTokenizer"))
    assert not release_era_cleanup(tokenizer("GPTNeoXTokenizer", clean_up_tokenization_spaces=False))
