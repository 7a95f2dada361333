"""fseval's prompts as chat-completions messages, in the ``chat`` or the ``interleaved`` style.

``chat``: each demo a user turn (its images and its text up to the answer) and an assistant turn (the
answer), then the query as the last user turn; where the answer starts is read off the query's text after
its last image, as the hf_vlm family reads it (the longest tail of it a demo contains). ``interleaved``:
one user message whose parts alternate images and text exactly where the prompt places them, demos'
answers included. ``<|endofchunk|>`` closes a demo: a turn boundary (chat) or a newline (interleaved).

An image is an ``image_url`` part; a clip is one part per frame. ``media`` maps each media item to its
part's URL: a base64 data URI in the request sent, ``media[i]`` (an index into the sample's ``media`` keys)
in the request recorded.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Sequence
from typing import Any

from PIL import Image

from fseval.models.turns import chat_turns
from fseval.types import END_OF_CHUNK, IMAGE_TOKEN

Message = dict[str, Any]
Part = dict[str, Any]


def data_uri(image: Image.Image) -> str:
    """A PNG data URI: lossless, so the server decodes the pixels fseval decoded."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def parts(text: str, media: Sequence[Sequence[str]], start: int) -> tuple[list[Part], int]:
    """``text``'s images (each media item's URLs, from item ``start`` on) and texts in order, empty texts left
    out; and the index of the next media item."""
    items: list[Part] = []
    for i, piece in enumerate(text.split(IMAGE_TOKEN)):
        if i:
            items += [{"type": "image_url", "image_url": {"url": url}} for url in media[start]]
            start += 1
        if piece:
            items.append({"type": "text", "text": piece})
    return items, start


def chat_messages(text: str, media: Sequence[Sequence[str]]) -> list[Message]:
    """The prompt as chat turns: per demo a user turn and an assistant turn, then the query's user turn."""
    demos, query = chat_turns(text)
    messages: list[Message] = []
    index = 0
    for question, answer in demos:
        content, index = parts(question.strip(), media, index)
        messages.append({"role": "user", "content": content})
        messages.append({"role": "assistant", "content": answer.strip()})
    content, index = parts(query.strip(), media, index)
    messages.append({"role": "user", "content": content})
    return messages


def interleaved_messages(text: str, media: Sequence[Sequence[str]]) -> list[Message]:
    """The prompt as one user message, its parts in the prompt's order, each ``<|endofchunk|>`` a newline."""
    plain = re.sub(re.escape(END_OF_CHUNK) + "\n?", "\n", text)
    content, _ = parts(plain, media, 0)
    return [{"role": "user", "content": content}]


def messages(style: str, text: str, media: Sequence[Sequence[str]]) -> list[Message]:
    return chat_messages(text, media) if style == "chat" else interleaved_messages(text, media)
