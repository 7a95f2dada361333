"""Prompts byte-identical to OpenFlamingo's VQA prompts, and its post-processing."""

from __future__ import annotations

from pathlib import Path

import pytest

from fseval.tasks.postprocess import caption, vqa
from fseval.tasks.prompts import render
from fseval.tasks.spec import load_prompt
from fseval.types import MediaRef, Sample


def sample(sid: int, question: str, answers: list[str]) -> Sample:
    return Sample(
        sid, (MediaRef(key=f"img{sid}", path=Path(f"img{sid}.jpg")),), {"question": question, "answers": answers}
    )


DEMOS = [sample(1, "What is this?", ["a cat", "cat"]), sample(2, "How many?", ["2", "two"])]
QUERY = sample(9, "Is it red?", ["yes"])


def test_k_shot_golden() -> None:
    text, media = render(load_prompt("vqa"), DEMOS, QUERY, demo_media=True)
    assert text == (
        "<image>Question:What is this? Short answer:a cat<|endofchunk|>\n"
        "<image>Question:How many? Short answer:2<|endofchunk|>\n"
        "<image>Question:Is it red? Short answer:"
    )
    assert [m.key for m in media] == ["img1", "img2", "img9"]


def test_zero_shot_golden_keeps_text_demos_without_images() -> None:
    text, media = render(load_prompt("vqa"), DEMOS, QUERY, demo_media=False)
    assert text == (
        "Question:What is this? Short answer:a cat<|endofchunk|>\n"
        "Question:How many? Short answer:2<|endofchunk|>\n"
        "<image>Question:Is it red? Short answer:"
    )
    assert [m.key for m in media] == ["img9"]


def test_zero_shot_without_text_demos() -> None:
    text, _ = render(load_prompt("vqa"), [], QUERY, demo_media=False)
    assert text == "<image>Question:Is it red? Short answer:"


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        ("yes", "yes"),
        (" yes Question: what", " yes "),
        ("red, blue", "red"),
        ("two Answer:3", "two "),
        ("Short answer", ""),
        ("a,b, c", "a,b"),
    ],
)
def test_vqa_postprocess(generation: str, expected: str) -> None:
    assert vqa(generation) == expected


def test_caption_postprocess() -> None:
    assert caption('A "dog" runs. Output: more') == "A dog runs. "


def test_okvqa_postprocess_cuts_then_stems() -> None:
    from fseval.tasks.postprocess import okvqa

    assert okvqa("riding horses Question: what") == "ride horse"
