"""An fseval prompt read as chat turns: each demo's question and answer, then the query.

Families that speak to a model in turns (``hf_vlm``'s chat style, a served model's chat messages) split
prompts here, so both put the answer where the other does. ``<|endofchunk|>`` closes each demo; where a
demo's answer starts is read off the query: the longest tail of the query's text after its last image that
the demo also contains ends the demo's question (``" Short answer:"`` for the VQA prompt). A query that ends
with an image (no text cue) makes each demo's text after its last image the answer.
"""

from __future__ import annotations

from fseval.types import END_OF_CHUNK, IMAGE_TOKEN


def chat_turns(text: str) -> tuple[list[tuple[str, str]], str]:
    """``([(question, answer) per demo], query)``, each piece as the prompt spells it (left-stripped)."""
    *demos, query = (chunk.lstrip() for chunk in text.split(END_OF_CHUNK))
    cue = query.split(IMAGE_TOKEN)[-1]
    return [split_answer(demo, cue) for demo in demos], query


def split_answer(demo: str, cue: str) -> tuple[str, str]:
    """(question, answer) of a demo: the question ends with the longest tail of ``cue`` found after its last image."""
    head, found_image, tail = demo.rpartition(IMAGE_TOKEN)
    head += IMAGE_TOKEN if found_image else ""
    for start in range(len(cue)):
        found = tail.rfind(cue[start:])
        if found >= 0:
            end = found + len(cue) - start
            return head + tail[:end], tail[end:]
    return head, tail
