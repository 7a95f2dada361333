"""fseval's model-agnostic prompts in a modern VLM's own format, in one of two styles.

An fseval prompt is text with one ``<image>`` marker per media item and ``<|endofchunk|>`` closing
each demo; the text after the last ``<|endofchunk|>`` is the query. Prompt files join demos with a
separator (``"\\n"`` or nothing) that follows each ``<|endofchunk|>``.

A marker stands for a still image or, where the model takes video, a clip: ``videos`` says which
markers, in order, are clips.

``interleaved``: plain text, as a base model sees its interleaved pre-training documents. Each
``<image>`` becomes the architecture's image placeholder, or its video placeholder for a clip (which
the processor expands into the image's or clip's tokens), and ``<|endofchunk|>`` a newline (a
separator newline right after it is absorbed, so a demo closes with exactly one newline whatever the
prompt file joins demos with). Generation stops at a newline, as the demos end.

``chat``: one user turn per demo with its images (or clips) and its text up to the answer, one assistant turn
with the answer, and the query as the last user turn, rendered by the checkpoint's chat template
with the generation prompt: the way an instruction-tuned model is spoken to. Where the answer
starts is read off the query: the longest tail of the query's text (after its last image) that the
demo also contains ends the demo's question, e.g. ``" Short answer:"`` for the VQA prompt. A prompt
whose query ends with an image (no text cue) makes each demo's text after its last image the answer.
Generation stops at the end of the assistant's turn.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fseval.models.turns import chat_turns
from fseval.types import END_OF_CHUNK, IMAGE_TOKEN

Message = dict[str, Any]
Render = Callable[[list[Message]], str]
"""Renders messages with the checkpoint's chat template and its generation prompt."""


def to_interleaved(text: str, image_placeholder: str, videos: Sequence[bool] = (), video_placeholder: str = "") -> str:
    """Plain text: each ``<image>`` the image placeholder (a clip's: the video placeholder), each
    ``<|endofchunk|>`` (and its separator newline) one newline."""
    text = re.sub(re.escape(END_OF_CHUNK) + "\n?", "\n", text)
    clips = iter(videos)
    first, *rest = text.split(IMAGE_TOKEN)
    return first + "".join((video_placeholder if next(clips, False) else image_placeholder) + piece for piece in rest)


def to_messages(text: str, videos: Sequence[bool] = ()) -> list[Message]:
    """The prompt as chat turns: per demo a user turn and an assistant turn, then the query's user turn."""
    demos, query = chat_turns(text)
    clips = iter(videos)
    messages: list[Message] = []
    for question, answer in demos:
        messages.append({"role": "user", "content": content(question, clips)})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer.strip()}]})
    messages.append({"role": "user", "content": content(query, clips)})
    return messages


def content(text: str, clips: Iterator[bool] | None = None) -> list[dict[str, str]]:
    """A turn's content: its images (``clips`` says, marker by marker, which are videos) and texts in order
    (empty texts left out), as chat templates take them."""
    items: list[dict[str, str]] = []
    for i, piece in enumerate(text.split(IMAGE_TOKEN)):
        if i:
            items.append({"type": "video" if clips is not None and next(clips, False) else "image"})
        if piece.strip():
            items.append({"type": "text", "text": piece.strip()})
    return items


@dataclass(frozen=True)
class ChatFormat:
    """What a chat template puts around an assistant's answer, read off the template once.

    ``answer_prefix`` is what the template writes between the generation prompt and the answer
    (Idefics2's ``"Assistant:"`` is followed by ``" "`` + answer), so that a ranked candidate is
    scored as a demo's answer is written. ``end_of_turn`` is what closes the answer (``<|im_end|>``).
    """

    answer_prefix: str
    end_of_turn: str


MARK = "\x1fANSWER\x1f"


def chat_format(render: Render, render_plain: Render) -> ChatFormat:
    """Compare a rendered generation prompt with a rendered answer (``render_plain`` has no generation prompt)."""
    question = {"role": "user", "content": [{"type": "text", "text": "Q"}]}
    head = render([question])
    full = render_plain([question, {"role": "assistant", "content": [{"type": "text", "text": MARK}]}])
    if MARK not in full:
        return ChatFormat("", "")
    before, _, after = full.partition(MARK)
    prefix = before[len(head) :] if before.startswith(head) else ""
    return ChatFormat(prefix, after.strip())
