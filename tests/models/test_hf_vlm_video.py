"""The hf_vlm family on video: Qwen2-VL, Qwen2.5-VL and LLaVA-OneVision take clips (media of several frames)
through their processors' video input, few-shot with clip demos; the other architectures refuse clips.

Tiny random checkpoints written by ``fseval make-tiny``, on the CPU.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from data_writers import flat
from PIL import Image
from typer.testing import CliRunner
from video_writers import write_msrvtt_qa, write_star

from fseval.cli import app
from fseval.errors import FsevalError
from fseval.media.video import CLIP_CACHE
from fseval.models.hf_vlm import HfVlmAdapter, load
from fseval.models.hf_vlm.checks import video_problems
from fseval.models.settings import switched
from fseval.types import GenerationSettings, Media, Prompt

pytestmark = pytest.mark.slow  # tiny real models and decoded clips
VIDEO_ARCHS = ("qwen2_vl", "qwen2_5_vl", "llava_onevision")
GREEDY = GenerationSettings(max_new_tokens=5, num_beams=1)
BEAMS = GenerationSettings(max_new_tokens=4, num_beams=3)
QA = "<image>Question:{} Answer:"
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``tiny(arch)``: the tiny checkpoint of an architecture, written once by ``fseval make-tiny``."""
    root, made = tmp_path_factory.mktemp("hf_vlm_video"), {}

    def get(arch: str) -> Path:
        if arch not in made:
            result = runner.invoke(app, ["make-tiny", str(root / arch), "--family", "hf_vlm", "--arch", arch])
            assert result.exit_code == 0, result.output
            made[arch] = root / arch
        return made[arch]

    return get


@pytest.fixture(scope="module")
def adapters(tiny: Callable[[str], Path]) -> Callable[..., HfVlmAdapter]:
    loaded: dict[tuple[str, str], HfVlmAdapter] = {}

    def get(arch: str, style: str = "interleaved") -> HfVlmAdapter:
        if (arch, style) not in loaded:
            loaded[arch, style] = load(str(tiny(arch)), prompt_style=style)
        return loaded[arch, style]

    return get


def clip(key: str, seed: int, frames: int) -> Media:
    """A clip of random 64x48 frames (one frame: a still image)."""
    rng = np.random.default_rng(seed)
    return Media(key, tuple(Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)) for _ in range(frames)))


def video_prompts(frames: tuple[int, int, int, int] = (8, 5, 7, 8)) -> list[Prompt]:
    """A 2-shot prompt of clips, a lone clip, a text-only 0-shot prompt and a 1-shot prompt (clips of ``frames``)."""
    a, b, c, d = (clip(f"clip{i}", i, n) for i, n in enumerate(frames))
    return [
        Prompt(
            f"{QA.format('what?')}red<|endofchunk|>\n{QA.format('how?')}two<|endofchunk|>\n{QA.format('x?')}", (a, b, c)
        ),
        Prompt(QA.format("which?"), (d,)),
        Prompt("Question:what? Answer:no<|endofchunk|>\nQuestion:and? Answer:"),
        Prompt(f"{QA.format('color?')}blue<|endofchunk|>\n{QA.format('shape?')}", (b, a)),
    ]


def samples(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def run(out: Path, *args: str, exit_code: int = 0) -> Any:
    CLIP_CACHE.clear()  # one CLI process is one run; here several runs share the process
    result = runner.invoke(app, ["run", "--device", "cpu", "-o", str(out), *args])
    assert result.exit_code == exit_code, result.output
    return result


# -- the real CLI -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arch", "style"),
    [(arch, "interleaved") for arch in VIDEO_ARCHS] + [("qwen2_vl", "chat"), ("llava_onevision", "chat")],
)
def test_video_qa_at_0_and_4_shots_batch_1_and_4_agree(
    arch: str, style: str, tiny: Callable[[str], Path], tmp_path: Path
) -> None:
    """MSRVTT-QA (8 frames a clip, 3 beams) end to end: every sample answered, identical at batch sizes 1 and 4."""
    data = write_msrvtt_qa(tmp_path / "msrvtt_qa")
    args = ["--model", str(tiny(arch)), "--task", "msrvtt_qa", "--shots", "0,4", "--data-dir", str(data)]
    args += ["--model-arg", f"prompt_style={style}"]
    outputs = []
    for batch_size in ("1", "4"):
        run(tmp_path / f"b{batch_size}", *args, "--batch-size", batch_size)
        lines = samples(tmp_path / f"b{batch_size}")
        assert len(lines) == 10 and all(line["error"] is None for line in lines)
        assert all(len(line["media"]) == 5 for line in lines if line["shots"] == 4)  # 4 demo clips and the query's
        outputs.append([line["generation"] for line in lines])
    assert outputs[0] == outputs[1]
    assert len(set(outputs[0])) > 1  # the clips and questions matter
    model = json.loads((tmp_path / "b1" / "results.json").read_text())["model"]
    assert model["arch"] == arch and model["prompt_style"] == style


@pytest.mark.parametrize("arch", ["qwen2_vl", "llava_onevision"])
def test_star_ranks_each_questions_choices_on_clips(arch: str, tiny: Callable[[str], Path], tmp_path: Path) -> None:
    """A rank task on clips (STAR: 1 FPS inside a time range, the question's own 4 choices), batch 1 and 4 alike."""
    data = write_star(tmp_path / "star")
    args = ["--model", str(tiny(arch)), "--task", "star", "--shots", "0,4", "--data-dir", str(data)]
    ranked, scores = [], []
    for batch_size in ("1", "4"):
        run(tmp_path / f"b{batch_size}", *args, "--batch-size", batch_size)
        lines = samples(tmp_path / f"b{batch_size}")
        assert lines and all(line["error"] is None and len(line["ranking"]) == 4 for line in lines)
        ranked.append([(line["prediction"], [label for label, _ in line["ranking"]]) for line in lines])
        scores.append([score for line in lines for _, score in line["ranking"]])
    assert ranked[0] == ranked[1]
    assert scores[0] == pytest.approx(scores[1], abs=1e-5)  # batched matmuls round differently


def test_an_image_architecture_refuses_clips_clearly(tiny: Callable[[str], Path], tmp_path: Path) -> None:
    data = write_msrvtt_qa(tmp_path / "msrvtt_qa")
    args = ["--model", str(tiny("idefics2")), "--task", "msrvtt_qa", "--shots", "0", "--data-dir", str(data)]
    output = flat(run(tmp_path / "run", *args, "--limit", "1", exit_code=1).output)
    # Refused before any weights load: the architecture is read from config.json.
    assert "cannot run video tasks" in output and "'idefics2' model, which takes single images" in output
    assert "qwen2_vl, qwen2_5_vl, llava_onevision" in output and "Traceback" not in output
    assert not (tmp_path / "run").exists()


def test_which_checkpoints_take_video_is_known_before_loading(tiny: Callable[[str], Path]) -> None:
    """What preflight can ask of the family (config.json's model_type; no weights read)."""
    assert video_problems({"path": str(tiny("qwen2_vl"))}) == []
    [problem] = video_problems({"path": str(tiny("idefics2"))})
    assert "'idefics2' model, which takes single images" in problem and "llava_onevision" in problem
    assert video_problems({"path": "/nowhere"}) == []  # the files' own check reports that


# -- the adapter ---------------------------------------------------------------------------------
@pytest.mark.parametrize("style", ["interleaved", "chat"])
@pytest.mark.parametrize("arch", VIDEO_ARCHS)
def test_batched_equals_one_prompt_at_a_time_and_the_cache_changes_nothing(
    arch: str, style: str, adapters: Callable[..., HfVlmAdapter]
) -> None:
    """Clips of 8, 5 and 7 frames, mixed in prompts and batches; greedy and beams, with both decoding loops.

    LLaVA-OneVision stacks clips: those of different frame counts go without its processor's tensors
    (cached encodings only), so without the media cache the clips of a batch need one frame count.
    """
    adapter = adapters(arch, style)
    prompts = video_prompts()
    for settings in (GREEDY, BEAMS):
        batched = adapter.generate_ids(prompts, settings)
        assert batched == [adapter.generate_ids([prompt], settings)[0] for prompt in prompts]
        with switched(adapter, decoding_loop="transformers"):
            assert adapter.generate_ids(prompts, settings) == batched
    even = video_prompts((8, 8, 8, 8))
    cached = adapter.generate_ids(even, BEAMS)
    with switched(adapter, media_cache=False):
        assert adapter.generate_ids(even, BEAMS) == cached
        if arch == "llava_onevision":
            with pytest.raises(FsevalError, match="need as many frames each"):
                adapter.generate_ids(prompts, GREEDY)


@pytest.mark.parametrize("arch", VIDEO_ARCHS)
def test_prompts_mixing_images_and_clips(arch: str, adapters: Callable[..., HfVlmAdapter]) -> None:
    still, other = clip("still", 10, 1), clip("other", 11, 1)
    video = clip("video", 12, 8)
    prompts = [
        Prompt("<image>a:b<|endofchunk|>\n<image>a:", (still, video)),
        Prompt("<image>x<image>a:", (video, other)),
        Prompt("<image>a:", (still,)),
    ]
    adapter = adapters(arch)
    batched = adapter.generate_ids(prompts, GREEDY)
    assert batched == [adapter.generate_ids([prompt], GREEDY)[0] for prompt in prompts]
    with switched(adapter, media_cache=False):
        assert adapter.generate_ids(prompts, GREEDY) == batched


@pytest.mark.parametrize("arch", VIDEO_ARCHS)
def test_logits_equal_the_models_own_forward_on_the_processors_video_input(
    arch: str, adapters: Callable[..., HfVlmAdapter]
) -> None:
    """Cached clip encodings, fseval's multimodal positions and left padding against the processor's output for each
    prompt fed to the model (clips as given, at the declared 2 frames a second)."""
    adapter = adapters(arch)
    prompts = video_prompts((8, 6, 7, 8) if arch != "llava_onevision" else (8, 8, 8, 8))
    ours = adapter.next_token_logits(prompts)
    for row, prompt in enumerate(prompts):
        inputs = adapter.processor(
            text=[adapter.model_text(prompt.text, [True] * len(prompt.media))],
            return_tensors="pt",
            add_special_tokens=False,
            **processor_videos(prompt.media),
        )
        with torch.no_grad():
            expected = adapter.model(**inputs).logits[0, -1]
        torch.testing.assert_close(ours[row], expected, rtol=0, atol=1e-5)


def processor_videos(clips: tuple[Media, ...]) -> dict[str, Any]:
    if not clips:
        return {}
    arrays = [np.stack([np.asarray(frame) for frame in item.frames]) for item in clips]
    metadata = [{"total_num_frames": len(a), "fps": 2.0, "frames_indices": list(range(len(a)))} for a in arrays]
    return {"videos": arrays, "video_metadata": metadata, "do_sample_frames": False}


@pytest.mark.parametrize("style", ["interleaved", "chat"])
@pytest.mark.parametrize("arch", VIDEO_ARCHS)
def test_rank_equals_a_full_forward_pass(arch: str, style: str, adapters: Callable[..., HfVlmAdapter]) -> None:
    adapter = adapters(arch, style)
    prompts = video_prompts((8, 6, 7, 8) if arch != "llava_onevision" else (8, 8, 8, 8))
    candidates = [["yes", "no way"], ["a cat"], ["no", "x"], ["blue square"]]
    scores = adapter.rank(prompts, candidates)
    for prompt, options, got in zip(prompts, candidates, scores, strict=True):
        text = adapter.model_text(prompt.text, [True] * len(prompt.media))
        for option, tokens in zip(options, got, strict=True):
            inputs = adapter.processor(
                text=[text + adapter.chat.answer_prefix + option],
                return_tensors="pt",
                add_special_tokens=False,
                **processor_videos(prompt.media),
            )
            with torch.no_grad():
                log_probs = adapter.model(**inputs).logits[0, :-1].log_softmax(-1)
            expected = log_probs.gather(-1, inputs["input_ids"][0, 1:, None])[-len(tokens) :, 0]
            torch.testing.assert_close(torch.tensor(tokens), expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("arch", VIDEO_ARCHS)
def test_clips_reach_the_model_as_sampled(arch: str, adapters: Callable[..., HfVlmAdapter]) -> None:
    """Every frame fseval sampled, none added or dropped, even where the saved processor would sample frames
    itself; no warning from transformers about frame rates or pixel caps; each clip encoded once."""
    adapter = adapters(arch)
    video_processor = adapter.processor.video_processor
    saved = video_processor.do_sample_frames, getattr(video_processor, "num_frames", None)
    video_processor.do_sample_frames, video_processor.num_frames = True, 2
    clips = (clip("c3", 1, 3), clip("c5", 2, 5), clip("c8", 3, 8))
    prompt = Prompt("".join(QA.format(i) + "a<|endofchunk|>" for i in range(2)) + QA.format("q"), clips)
    adapter.clear_media_cache()
    before = adapter.inputs.encoded_clips
    try:
        with warnings.catch_warnings(record=True) as caught, captured_logs() as logged:
            warnings.simplefilter("always")
            batch = adapter.batch([prompt, prompt])
    finally:
        video_processor.do_sample_frames, video_processor.num_frames = saved
    assert not caught and not logged
    assert adapter.inputs.encoded_clips - before == 3
    ids = batch["input_ids"][0]
    video_tokens = int((ids == adapter.model.config.video_token_id).sum())
    if arch == "llava_onevision":
        assert video_tokens == sum(len(c.frames) * 2 * 2 + 1 for c in clips)  # 2x2 pooled tokens a frame + newline
    else:
        assert batch["video_grid_thw"][:3, 0].tolist() == [2, 3, 4]  # frame pairs; an odd count's last one doubled
        assert video_tokens == sum(int(t * h * w) // 4 for t, h, w in batch["video_grid_thw"][:3].tolist())


@pytest.mark.parametrize(("fps", "precision"), [(1.0, "fp32"), (2.0, "fp32"), (4.0, "fp32"), (3.0, "bf16")])
def test_qwen2_5_vl_spaces_a_clips_temporal_positions_by_the_declared_rate(
    fps: float, precision: str, tiny: Callable[[str], Path]
) -> None:
    """Qwen2.5-VL: ``second_per_grid_ts`` = 2 frames / video_fps (in float32 whatever the model's precision); its
    processor would assume 24 frames a second."""
    adapter = load(str(tiny("qwen2_5_vl")), video_fps=fps, precision=precision)
    batch = adapter.batch([Prompt(QA.format("q"), (clip("c", 0, 8),))])
    assert batch["second_per_grid_ts"].dtype == torch.float32
    assert batch["second_per_grid_ts"].tolist() == [pytest.approx(2 / fps)]
    positions = adapter.model.model.get_rope_index(
        batch["input_ids"],
        batch["mm_token_type_ids"],
        video_grid_thw=batch["video_grid_thw"],
        second_per_grid_ts=batch["second_per_grid_ts"],
    )[0]
    temporal = sorted(set(positions[0, 0][batch["mm_token_type_ids"][0] == 2].tolist()))
    step = adapter.model.config.vision_config.tokens_per_second * 2 / fps
    assert temporal == [1 + int(i * step) for i in range(4)]


@pytest.mark.parametrize("arch", VIDEO_ARCHS)
def test_model_texts_write_clips_as_the_release_templates_do(arch: str, adapters: Callable[..., HfVlmAdapter]) -> None:
    text = "<image>Question:a? Answer:b<|endofchunk|>\n<image>Question:c? Answer:"
    placeholder = "<video>" if arch == "llava_onevision" else "<|vision_start|><|video_pad|><|vision_end|>"
    plain = adapters(arch).model_text(text, [True, True])
    assert plain == f"{placeholder}Question:a? Answer:b\n{placeholder}Question:c? Answer:"
    chat = adapters(arch, "chat").model_text(text, [True, False])
    assert chat.count(placeholder) == 1 and chat.index(placeholder) < chat.index("Question:a?")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class captured_logs:
    """Warnings transformers logs (its loggers do not propagate to pytest's capture)."""

    def __enter__(self) -> list[logging.LogRecord]:
        self.handler = _Records()
        logging.getLogger("transformers").addHandler(self.handler)
        return self.handler.records

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("transformers").removeHandler(self.handler)
