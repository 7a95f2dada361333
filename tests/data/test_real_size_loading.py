"""What keeps loading VQAv2-size files fast and lean changes no result (benchmarks/data_loading.py measures it)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest

from fseval.data.base import MediaRefs, answer_meta
from fseval.errors import DataError
from fseval.metrics.vqa import vqa_accuracy
from fseval.tasks.spec import Task, load_tasks
from fseval.tasks.task_data import load_task_data
from fseval.types import MediaRef, VideoSampling

ROOT = Path(__file__).resolve().parents[2]


def vqav2() -> Task:
    (task,) = load_tasks(["vqav2"])
    return task


def records(answers: list[str], **columns: list[Any]) -> list[dict[str, Any]]:
    return [{"answer": a, **{k: v[i] for k, v in columns.items()}} for i, a in enumerate(answers)]


def serialised(record: Any) -> str:
    """What fseval kept per answer before: the record without its text, as sorted JSON ("" for a non-object)."""
    if not isinstance(record, dict):
        return ""
    return json.dumps({k: v for k, v in record.items() if k != "answer"}, sort_keys=True)


CATS = ["cat", "Cat", "cat.", "dog", "cat", "a cat", "kitten", "cat", "dog", "cat"]
ANSWER_RECORDS = [
    records(CATS, answer_confidence=["yes"] * 10, answer_id=list(range(1, 11))),  # VQAv2
    records(CATS, answer_confidence=["yes", "maybe", "no"] * 3 + ["yes"]),  # no ids: equal records drop together
    records(CATS, answer_confidence=["yes"] * 10),
    records(CATS, answer_id=list(range(10))),  # ids from 0
    records(CATS, answer_id=[1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),  # repeated ids
    records(CATS, answer_id=[1, 2, 3, "1", "2", "3", 4, 5, 6, 7]),
    records(CATS, answer_id=[True, 1, 1.0, 2, 3, 4, 5, 6, 7, 8]),  # equal in Python, not in JSON
    records(CATS, answer_id=[[1], [1], [2], [3], [4], [5], [6], [7], [8], [9]]),  # ids that cannot be hashed
    [{"answer": "cat"}, "cat", {"answer": "dog"}, "cat", {"answer": "cat", "extra": None}],  # not all objects
    [],
]


@pytest.mark.parametrize("answers", ANSWER_RECORDS)
def test_answer_meta_scores_the_openflamingo_variant_as_the_serialised_records_did(answers: list[Any]) -> None:
    texts = [a["answer"] if isinstance(a, dict) else a for a in answers]
    before, after = [serialised(a) for a in answers], answer_meta(answers)
    # The same answers share a number as shared their serialised record ...
    assert [[b == c for c in before] for b in before] == [[b == c for c in after] for b in after]
    # ... so every prediction scores the same.
    for prediction in ("cat", "dog", "kitten", "a cat", "fish"):
        if texts:
            assert vqa_accuracy(prediction, texts, "openflamingo", after) == vqa_accuracy(
                prediction, texts, "openflamingo", before
            )


def test_vqav2_questions_share_one_answer_meta() -> None:
    first, second = ANSWER_RECORDS[0], records(["yes"] * 10, answer_confidence=["no"] * 10, answer_id=[*range(1, 11)])
    assert answer_meta(first) is answer_meta(second) == tuple(range(10))


@pytest.mark.parametrize("root", [Path("data"), Path("/"), Path("."), Path("/srv/data"), Path("../data")])
@pytest.mark.parametrize(
    "relative", ["val2014/x.jpg", "./x.jpg", "a//b.jpg", "a/./b.jpg", "a/../b.jpg", "dir/", ".hidden.jpg", "/abs.jpg"]
)
def test_media_refs_key_and_path_are_those_of_the_joined_path(root: Path, relative: str) -> None:
    (ref,) = MediaRefs(root, "{name}", root / "source.json")({"name": relative})
    assert ref.key == str(root / relative)
    assert ref.path == root / relative and isinstance(ref.path, Path)


def test_media_refs_share_one_reference_per_file_and_record_a_bad_template() -> None:
    refs = MediaRefs(Path("data"), "val2014/COCO_val2014_{image_id:012d}.jpg", Path("data/q.json"))
    assert refs({"image_id": 1}) is refs({"image_id": 1}) and refs({"image_id": 1}) != refs({"image_id": 2})
    (broken,) = refs({"question": "no image id"})
    assert broken.path is None and broken.error is not None and "cannot build the image path" in broken.error


def test_video_refs_name_the_sampling_in_their_key() -> None:
    sampling = VideoSampling(frames=4)
    refs = MediaRefs(Path("msrvtt"), "videos/video{video_id}.mp4", Path("msrvtt/test_qa.json"), sampling)
    (ref,) = refs({"video_id": 7})
    path = Path("msrvtt/videos/video7.mp4")
    assert ref == MediaRef(key=f"{path}#frames=4", path=path, video=sampling)
    (broken,) = refs({})
    assert broken.error is not None and "cannot build the video path" in broken.error


def test_media_ref_given_a_string_behaves_as_given_a_path() -> None:
    lazy, eager = MediaRef(key="a/b.jpg", path="a/b.jpg"), MediaRef(key="a/b.jpg", path=Path("a/b.jpg"))
    assert lazy == eager and hash(lazy) == hash(eager) and repr(lazy) == repr(eager)
    assert lazy.path == Path("a/b.jpg") and MediaRef(key="k").path is None
    assert pickle.loads(pickle.dumps(lazy)) == lazy
    assert dataclasses.replace(lazy, key="c").path == Path("a/b.jpg")
    with pytest.raises(dataclasses.FrozenInstanceError):
        lazy.path = Path("c")  # type: ignore[misc]


def test_loaded_vqav2_samples(vqav2_dir: Path) -> None:
    data = load_task_data(vqav2(), str(vqav2_dir))
    first = data.eval[0]
    assert first.media[0].key == str(vqav2_dir / "val2014/COCO_val2014_000000001000.jpg")
    assert first.media[0].path == vqav2_dir / "val2014/COCO_val2014_000000001000.jpg"
    assert data.eval[1].media is first.media  # three questions per image, one reference
    assert first.fields["answer_meta"] == tuple(range(10))
    assert (first.fields["answer_type"], first.fields["question_type"]) == ("other", "what")


def rewrite(path: Path, key: str, change) -> None:
    content = json.loads(path.read_text())
    change(content[key])
    path.write_text(json.dumps(content))


def test_limit_checks_the_evaluated_samples_and_the_whole_demo_pool(vqav2_dir: Path) -> None:
    def spoil_last(annotations: list[dict[str, Any]]) -> None:
        annotations[0]["answers"] = []  # stored in reverse: the last question's

    rewrite(vqav2_dir / "v2_mscoco_val2014_annotations.json", "annotations", spoil_last)
    with pytest.raises(DataError, match="cannot be scored"):
        load_task_data(vqav2(), str(vqav2_dir))
    data = load_task_data(vqav2(), str(vqav2_dir), limit=2)
    assert len(data.eval) == 2 and len(data.demo_pool) == 12

    def unusable_last(questions: list[dict[str, Any]]) -> None:
        questions[-1]["image_id"] = "x"  # not a number: its image path cannot be built

    rewrite(vqav2_dir / "v2_OpenEnded_mscoco_train2014_questions.json", "questions", unusable_last)
    with pytest.raises(DataError, match="cannot build the image path"):
        load_task_data(vqav2(), str(vqav2_dir), limit=2)


def test_limit_ignores_repeated_ids_after_the_evaluated_samples(vqav2_dir: Path) -> None:
    def repeat_first(questions: list[dict[str, Any]]) -> None:
        questions[-1]["question_id"] = questions[0]["question_id"]

    path = vqav2_dir / "v2_OpenEnded_mscoco_val2014_questions.json"
    rewrite(path, "questions", repeat_first)
    with pytest.raises(DataError, match="appear more than once"):
        load_task_data(vqav2(), str(vqav2_dir))
    assert len(load_task_data(vqav2(), str(vqav2_dir), limit=3).eval) == 3


def test_repeated_ids_of_different_types_are_found() -> None:
    from fseval.tasks.task_data import _check_unique_ids
    from fseval.types import Sample

    with pytest.raises(DataError, match="appear more than once"):
        _check_unique_ids(vqav2(), [Sample(id=1, media=()), Sample(id="1", media=())], ["f"])
    _check_unique_ids(vqav2(), [Sample(id=1, media=()), Sample(id="2", media=())], ["f"])


def test_limit_on_a_task_whose_demos_come_from_its_evaluation_split(vqav2_dir: Path) -> None:
    task = vqav2()
    data_spec = task.spec.data.model_copy(update={"demo": []})
    task = dataclasses.replace(task, spec=task.spec.model_copy(update={"data": data_spec}))
    data = load_task_data(task, str(vqav2_dir), limit=2)
    assert len(data.eval) == 2 and len(data.demo_pool) == 6 and data.demo_is_eval

    def unusable_last(questions: list[dict[str, Any]]) -> None:
        questions[-1]["image_id"] = "x"

    rewrite(vqav2_dir / "v2_OpenEnded_mscoco_val2014_questions.json", "questions", unusable_last)
    with pytest.raises(DataError, match="cannot build the image path"):  # a demo of the evaluated samples
        load_task_data(task, str(vqav2_dir), limit=2)


def test_the_benchmark_writes_files_in_the_release_format_that_fseval_loads(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("data_loading", ROOT / "benchmarks" / "data_loading.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["data_loading"] = bench
    spec.loader.exec_module(bench)
    folder = bench.ensure_files(tmp_path / "vqav2", val=40, train=60)
    val_questions, val_annotations, train_questions, _ = bench.json_floor(folder)
    assert set(val_questions["questions"][0]) == {"image_id", "question", "question_id"}
    annotation = val_annotations["annotations"][0]
    assert set(annotation) == {
        "question_id", "image_id", "question_type", "answer_type", "multiple_choice_answer", "answers"
    }  # fmt: skip
    assert [a["answer_id"] for a in annotation["answers"]] == list(range(1, 11))
    data = load_task_data(vqav2(), str(folder))
    assert (len(data.eval), len(data.demo_pool)) == (40, 60) == (40, len(train_questions["questions"]))
    assert bench.ensure_files(folder, val=40, train=60) == folder  # kept: not written again
