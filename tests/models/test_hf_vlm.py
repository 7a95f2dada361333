"""The hf_vlm family on tiny random checkpoints of each architecture (no download, CPU, seconds)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from data_writers import write_hateful_memes
from typer.testing import CliRunner

from fseval.cli import app
from fseval.errors import FsevalError
from fseval.models.hf_vlm import HfVlmAdapter, generation, load
from fseval.models.hf_vlm.prompts import chat_format, to_interleaved, to_messages
from fseval.models.settings import switched
from fseval.models.turns import split_answer
from fseval.types import GenerationSettings, Media, Prompt

ARCHS = ("idefics2", "idefics3", "qwen2_vl", "llava_onevision")
ALL_ARCHS = (*ARCHS, "qwen2_5_vl")  # Qwen2.5-VL runs the Qwen2-VL code path: the adapter's checks only
STYLES = ("interleaved", "chat")
GREEDY = GenerationSettings(max_new_tokens=5, num_beams=1)
BEAMS = GenerationSettings(max_new_tokens=4, num_beams=3)
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models: handing a 32-wide matmul to a second thread costs more than it saves (and more on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``tiny(arch)``: the tiny checkpoint of an architecture, written once per session by ``fseval make-tiny``."""
    root, made = tmp_path_factory.mktemp("hf_vlm"), {}

    def get(arch: str) -> Path:
        if arch not in made:
            result = runner.invoke(app, ["make-tiny", str(root / arch), "--family", "hf_vlm", "--arch", arch])
            assert result.exit_code == 0, result.output
            assert str(root / arch) in result.output  # the path is printed for `--model $(fseval make-tiny DIR)`
            made[arch] = root / arch
        return made[arch]

    return get


@pytest.fixture(scope="session")
def adapters(tiny: Callable[[str], Path]) -> Callable[[str, str], HfVlmAdapter]:
    """``adapters(arch, style)``: a loaded adapter, once per session (tests restore what they switch)."""
    loaded: dict[tuple[str, str], HfVlmAdapter] = {}

    def get(arch: str, style: str = "interleaved") -> HfVlmAdapter:
        if (arch, style) not in loaded:
            loaded[arch, style] = load(str(tiny(arch)), prompt_style=style)
        return loaded[arch, style]

    return get


@pytest.fixture(scope="module")
def prompts(make_media: Callable[..., Media]) -> list[Prompt]:
    """A 2-shot prompt, a lone image, a text-only 0-shot prompt, and a 1-shot prompt: mixed image counts."""
    red, blue, green, grey = (make_media(f"m{i}", seed) for i, seed in enumerate((1, 4, 7, 2)))
    vqa = "<image>Question:{} Short answer:"
    return [
        Prompt(
            f"{vqa.format('what?')}red<|endofchunk|>\n{vqa.format('how?')}two<|endofchunk|>\n{vqa.format('x?')}",
            (red, blue, green),
        ),
        Prompt(vqa.format("which?"), (grey,)),
        Prompt("Question:what? Short answer:no<|endofchunk|>\nQuestion:and? Short answer:"),
        Prompt(f"{vqa.format('color?')}blue<|endofchunk|>\n{vqa.format('shape?')}", (blue, red)),
    ]


def samples(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def run(model: Path, out: Path, *args: str) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["run", "--model", str(model), "--device", "cpu", "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    return samples(out)


# -- the real CLI -------------------------------------------------------------------------------
@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("arch", ARCHS)
def test_generation_and_rank_tasks_through_the_cli(
    arch: str, style: str, tiny: Callable[[str], Path], tmp_path: Path
) -> None:
    model, style_arg = tiny(arch), ("--model-arg", f"prompt_style={style}")
    lines = run(model, tmp_path / "vqa", "--task", "shapes_vqa", "--shots", "0,4", "--limit", "2", *style_arg)
    assert len(lines) == 4 and all(line["error"] is None and isinstance(line["generation"], str) for line in lines)
    four_shot = lines[-1]
    assert four_shot["prompt"].count("<image>") == 5 and "<|endofchunk|>" not in four_shot["model_prompt"]
    answers = [
        line["model_prompt"].count("Assistant:") + line["model_prompt"].count("<|im_start|>assistant") for line in lines
    ]
    # chat: each demo answered in an assistant turn, then the generation prompt (two text-only demos at 0 shots)
    assert answers == ([3, 3, 5, 5] if style == "chat" else [0, 0, 0, 0])
    results = json.loads((tmp_path / "vqa" / "results.json").read_text())
    assert results["model"]["family"] == "hf_vlm" and results["model"]["prompt_style"] == style
    assert results["model"]["arch"] == arch

    data = write_hateful_memes(tmp_path / "hm")
    args = ("--task", "hateful_memes", "--shots", "0,4", "--data-dir", str(data), "--limit", "2", *style_arg)
    ranked = run(model, tmp_path / "hm-run", *args)
    assert len(ranked) == 4 and all(
        line["prediction"] in ("yes", "no") and len(line["ranking"]) == 2 for line in ranked
    )


@pytest.mark.parametrize("arch", ARCHS)
def test_batch_size_does_not_change_greedy_outputs_through_the_cli(
    arch: str, tiny: Callable[[str], Path], tmp_path: Path
) -> None:
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    spec = (Path(__file__).parents[2] / "tasks" / "shapes_vqa.yaml").read_text(encoding="utf-8")
    greedy = spec.replace("name: shapes_vqa", "name: shapes_vqa_greedy").replace("num_beams: 3", "num_beams: 1")
    assert "num_beams: 1" in greedy and "shapes_vqa_greedy" in greedy
    (tasks / "shapes_vqa_greedy.yaml").write_text(greedy, encoding="utf-8")
    args = ("--task", "shapes_vqa_greedy", "--tasks-dir", str(tasks), "--shots", "0,4", "--limit", "4")
    one = run(tiny(arch), tmp_path / "b1", *args, "--batch-size", "1")
    four = run(tiny(arch), tmp_path / "b4", *args, "--batch-size", "4")
    assert [s["generation"] for s in one] == [s["generation"] for s in four]
    assert len({s["generation"] for s in one}) > 1  # the prompts (and images) matter


# -- the adapter ---------------------------------------------------------------------------------
@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("arch", ALL_ARCHS)
def test_batched_generation_equals_one_prompt_at_a_time(
    arch: str, style: str, adapters: Callable[[str, str], HfVlmAdapter], prompts: list[Prompt]
) -> None:
    adapter = adapters(arch, style)
    for settings in (GREEDY, BEAMS):
        batched = adapter.generate_ids(prompts, settings)
        assert batched == [adapter.generate_ids([prompt], settings)[0] for prompt in prompts]
    texts = adapter.generate(prompts, GREEDY)
    assert len(texts) == 4 and (style == "chat" or all("\n" not in text for text in texts))


@contextmanager
def end_logit(model: Any, token: int, scale: float | None) -> Iterator[None]:
    """The output row of ``token`` set to the mean row plus ``scale`` times a random direction (None: as trained)."""
    head = model.get_output_embeddings().weight
    saved = head[token].clone()
    direction = torch.randn(head.shape[1], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        if scale is not None:
            head[token] = head.mean(0) + scale * direction
    try:
        yield
    finally:
        with torch.no_grad():
            head[token] = saved


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("arch", ALL_ARCHS)
def test_fsevals_loop_picks_the_tokens_generate_picks(
    arch: str, style: str, adapters: Callable[[str, str], HfVlmAdapter], prompts: list[Prompt]
) -> None:
    """Greedy and 3 beams without length penalty, a task's 5 new tokens, on a left-padded batch of mixed image counts
    (Qwen2-VL's multimodal positions differ per row); the end of sequence as trained (no row ends) and made likely
    (rows end at different steps, beam search stops early), the stop flag read at once and one step late."""
    adapter = adapters(arch, style)
    ended: set[bool] = set()
    for scale in (None, 1.0):
        with end_logit(adapter.model, adapter.tokenizer.eos_token_id, scale), torch.inference_mode():
            for settings in (GenerationSettings(5, 1), GenerationSettings(5, 3, 0.0)):
                search = adapter.search(settings)
                batch = adapter.batch(prompts)
                theirs = generation.generate_transformers(adapter.model, batch, search)
                for lag in (0, 1):
                    batch = adapter.batch(prompts)  # generate expands it in place
                    ours = generation.generate_own_loop(adapter.model, batch, search, lag)
                    assert ours.shape == theirs.shape and torch.equal(ours, theirs), (scale, settings, lag)
                ended.update(any(token in adapter.stop_ids for token in row) for row in theirs.tolist())
    assert ended == {True, False}  # rows that stopped and rows that ran to the end


def test_the_loop_is_a_setting(tiny: Callable[[str], Path], prompts: list[Prompt]) -> None:
    adapter = load(str(tiny("qwen2_vl")), decoding_loop="transformers", stop_lag="1")
    assert adapter.settings.decoding_loop == "transformers" and adapter.settings.stop_lag == 1
    theirs = adapter.generate_ids(prompts, BEAMS)
    with switched(adapter, decoding_loop="fseval"):
        assert adapter.generate_ids(prompts, BEAMS) == theirs
    with pytest.raises(FsevalError, match="decoding_loop"):
        load(str(tiny("qwen2_vl")), decoding_loop="fast")


@pytest.mark.parametrize("arch", ALL_ARCHS)
def test_first_token_logits_equal_the_models_own_forward(
    arch: str, adapters: Callable[[str, str], HfVlmAdapter], prompts: list[Prompt]
) -> None:
    """The adapter (cached image encodings, left padding) against the processor's output fed to the model."""
    adapter = adapters(arch, "interleaved")
    ours = adapter.next_token_logits(prompts)
    for row, prompt in enumerate(prompts):
        images = [[media.frames[0] for media in prompt.media]] if prompt.media else None
        inputs = adapter.processor(
            text=[adapter.model_text(prompt.text)], images=images, return_tensors="pt", add_special_tokens=False
        )
        with torch.no_grad():
            expected = adapter.model(**inputs).logits[0, -1]
        torch.testing.assert_close(ours[row], expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("arch", ALL_ARCHS)
def test_rank_equals_a_full_forward_pass(
    arch: str, style: str, adapters: Callable[[str, str], HfVlmAdapter], prompts: list[Prompt]
) -> None:
    adapter = adapters(arch, style)
    candidates = [["yes", "no way"], ["a cat"], ["no", "x"], ["blue square"]]
    scores = adapter.rank(prompts, candidates)
    for prompt, options, got in zip(prompts, candidates, scores, strict=True):
        text = adapter.model_text(prompt.text)
        images = [[media.frames[0] for media in prompt.media]] if prompt.media else None
        for option, tokens in zip(options, got, strict=True):
            full = text + adapter.chat.answer_prefix + option
            inputs = adapter.processor(text=[full], images=images, return_tensors="pt", add_special_tokens=False)
            with torch.no_grad():
                log_probs = adapter.model(**inputs).logits[0, :-1].log_softmax(-1)
            ids = inputs["input_ids"][0, 1:]
            expected = log_probs.gather(-1, ids[:, None])[-len(tokens) :, 0]
            assert 1 <= len(tokens) <= len(option) + 1
            torch.testing.assert_close(torch.tensor(tokens), expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("arch", ALL_ARCHS)
def test_media_cache_on_and_off_give_the_same_outputs(
    arch: str, adapters: Callable[[str, str], HfVlmAdapter], prompts: list[Prompt]
) -> None:
    adapter = adapters(arch, "chat")
    candidates = [["yes", "no"], ["a cat"], ["no"], ["blue"]]
    adapter.clear_media_cache()
    before = adapter.inputs.encoded_images
    cached = (
        adapter.generate_ids(prompts, GREEDY),
        adapter.generate_ids(prompts, BEAMS),
        adapter.rank(prompts, candidates),
    )
    distinct = adapter.inputs.encoded_images - before
    assert distinct <= 5 + (4 if arch == "llava_onevision" else 0)  # each image once (per view)
    with switched(adapter, media_cache=False):
        plain = (
            adapter.generate_ids(prompts, GREEDY),
            adapter.generate_ids(prompts, BEAMS),
            adapter.rank(prompts, candidates),
        )
    assert cached[:2] == plain[:2]
    for ours, theirs in zip(cached[2], plain[2], strict=True):
        for a, b in zip(ours, theirs, strict=True):
            assert a == pytest.approx(b, abs=1e-5)


def test_loads_in_half_precision_and_describes_itself(tiny: Callable[[str], Path], prompts: list[Prompt]) -> None:
    adapter = load(str(tiny("qwen2_vl")), precision="bf16", prompt_style="chat", media_cache=False)
    assert adapter.model.dtype == torch.bfloat16
    assert len(adapter.generate(prompts[:2], GREEDY)) == 2
    info = adapter.describe()
    assert info["family"] == "hf_vlm" and info["precision"] == "bf16" and info["arch"] == "qwen2_vl"
    assert info["path"] == str(tiny("qwen2_vl")) and len(info["checkpoint_fingerprint"]) == 64
    with pytest.raises(FsevalError, match="precision"):
        load(str(tiny("qwen2_vl")), precision="int4")


def test_refuses_video_and_chat_without_a_template(
    tiny: Callable[[str], Path], adapters: Callable[[str, str], HfVlmAdapter], tmp_path: Path, make_media: Any
) -> None:
    clip = make_media("clip", 3, frames=4)
    with pytest.raises(FsevalError, match=r"\(idefics2\) takes single images"):  # tests/models/test_hf_vlm_video.py
        adapters("idefics2", "interleaved").generate([Prompt("<image>Output:", (clip,))], GREEDY)
    bare = shutil.copytree(tiny("idefics2"), tmp_path / "bare")
    for name in ("chat_template.jinja", "chat_template.json"):
        (bare / name).unlink(missing_ok=True)
    config = json.loads((bare / "processor_config.json").read_text())
    config.pop("chat_template", None)
    (bare / "processor_config.json").write_text(json.dumps(config))
    with pytest.raises(FsevalError, match="no chat template"):
        load(str(bare), prompt_style="chat")


# -- presets and checkpoints -------------------------------------------------------------------
def test_a_preset_resolves_only_from_the_local_cache(
    tiny: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(FsevalError, match="hf download Qwen/Qwen2-VL-2B-Instruct"):
        load("qwen2-vl-2b-instruct")
    from fseval.models import registry

    family, arguments = registry.resolve("qwen2-vl-2b-instruct", {})
    assert "hf download Qwen/Qwen2-VL-2B-Instruct" in registry.file_problems(family, arguments)[0]
    assert registry.check(family, arguments).prompt_style == "chat"  # type: ignore[attr-defined]

    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--Qwen--Qwen2-VL-2B-Instruct"
    shutil.copytree(tiny("qwen2_vl"), repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    assert registry.file_problems(family, arguments) == []
    adapter = load("qwen2-vl-2b-instruct")
    info = adapter.describe()
    assert adapter.prompt_style == "chat" and info["name"] == "qwen2-vl-2b-instruct"
    assert info["repo_id"] == "Qwen/Qwen2-VL-2B-Instruct" and info["revision"] == revision


def test_an_incomplete_or_foreign_checkpoint_is_one_clear_error(tiny: Callable[[str], Path], tmp_path: Path) -> None:
    broken = shutil.copytree(tiny("llava_onevision"), tmp_path / "broken")
    (broken / "model.safetensors").unlink()
    with pytest.raises(FsevalError, match=r"missing: model\.safetensors"):
        load(str(broken))
    foreign = shutil.copytree(tiny("llava_onevision"), tmp_path / "foreign")
    config = json.loads((foreign / "config.json").read_text())
    (foreign / "config.json").write_text(json.dumps({**config, "model_type": "paligemma"}))
    with pytest.raises(FsevalError, match="does not run"):
        load(str(foreign))
    with pytest.raises(FsevalError, match="does not exist"):
        load(str(tmp_path / "nowhere"))


def test_models_lists_the_family_and_its_presets() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0 and "hf_vlm" in result.output and "idefics2-8b" in result.output
    result = runner.invoke(app, ["models", "hf_vlm"])
    assert result.exit_code == 0 and "prompt_style" in result.output and "media_cache" in result.output


# -- prompt styles (no model) ----------------------------------------------------------------------
VQA_2SHOT = (
    "<image>Question:what color? Short answer:red<|endofchunk|>\n"
    "<image>Question:how many? Short answer:2<|endofchunk|>\n<image>Question:which shape? Short answer:"
)


def test_interleaved_style_maps_markers_and_demo_ends() -> None:
    qwen = "<|vision_start|><|image_pad|><|vision_end|>"
    assert to_interleaved(VQA_2SHOT, qwen) == (
        f"{qwen}Question:what color? Short answer:red\n{qwen}Question:how many? Short answer:2\n"
        f"{qwen}Question:which shape? Short answer:"
    )
    joined_without_separator = "<image>a:no<|endofchunk|><image>a:"
    assert to_interleaved(joined_without_separator, "<image>") == "<image>a:no\n<image>a:"


def test_chat_style_turns_demos_into_question_and_answer_turns() -> None:
    messages = to_messages(VQA_2SHOT)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[0]["content"] == [{"type": "image"}, {"type": "text", "text": "Question:what color? Short answer:"}]
    assert messages[1]["content"] == [{"type": "text", "text": "red"}]
    assert messages[3]["content"][0]["text"] == "2"
    memes = "<image>is 'a' here. Hateful? Answer:no<|endofchunk|><image>is 'bc' here. Hateful? Answer:"
    assert [m["content"][-1]["text"] for m in to_messages(memes)][:2] == ["is 'a' here. Hateful? Answer:", "no"]
    assert split_answer("<image>a cat", "") == ("<image>", "a cat")  # a query without a text cue
    assert split_answer("Output:a dog: big", "Output:") == ("Output:", "a dog: big")


def test_chat_format_is_read_off_the_template(adapters: Callable[[str, str], HfVlmAdapter]) -> None:
    assert adapters("idefics2", "chat").chat.answer_prefix == " "  # "Assistant:" + " " + answer
    assert adapters("idefics2", "chat").chat.end_of_turn == "<end_of_utterance>"
    assert adapters("qwen2_vl", "chat").chat.answer_prefix == ""
    assert adapters("qwen2_vl", "chat").chat.end_of_turn == "<|im_end|>"
    fmt = chat_format(lambda m: "no template", lambda m: "no template")
    assert fmt.answer_prefix == "" and fmt.end_of_turn == ""
