"""Loaders of the original release files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from data_writers import VAL_QA, write_textvqa, write_vizwiz

from fseval.errors import DataError
from fseval.tasks.spec import load_tasks
from fseval.tasks.task_data import load_task_data


def load(task: str, data_dir: Path | str, limit: int | None = None):
    (spec,) = load_tasks([task])
    return load_task_data(spec, str(data_dir), limit)


def test_vqav2_joins_by_question_id(vqav2_dir: Path) -> None:
    data = load("vqav2", vqav2_dir)
    assert [s.fields["question"] for s in data.eval] == [q for q, _ in VAL_QA]
    assert [s.fields["answers"] for s in data.eval] == [a for _, a in VAL_QA]
    assert (
        data.eval[0].id == 10000 and data.eval[0].media[0].path == vqav2_dir / "val2014/COCO_val2014_000000001000.jpg"
    )
    assert len(data.demo_pool) == 12 and not data.demo_is_eval


def test_data_dir_may_hold_one_folder_per_task(vqav2_dir: Path) -> None:
    assert len(load("vqav2", vqav2_dir.parent).eval) == len(VAL_QA)


@pytest.mark.parametrize(("task", "writer"), [("textvqa", write_textvqa), ("vizwiz", write_vizwiz)])
def test_official_and_openflamingo_layouts_agree(tmp_path: Path, task: str, writer) -> None:
    official = load(task, writer(tmp_path / "official", official=True))
    converted = load(task, writer(tmp_path / "converted", official=False))
    for a, b in zip(official.eval + official.demo_pool, converted.eval + converted.demo_pool, strict=True):
        assert a.id == b.id
        assert a.fields["question"] == b.fields["question"]
        assert a.fields["answers"] == b.fields["answers"]
        assert a.fields["answer_meta"] == b.fields["answer_meta"]
        assert a.media[0].path.relative_to(tmp_path / "official") == b.media[0].path.relative_to(tmp_path / "converted")


def test_missing_files_listed_with_expected_layout(tmp_path: Path, vqav2_dir: Path) -> None:
    (vqav2_dir / "v2_mscoco_val2014_annotations.json").unlink()
    with pytest.raises(DataError) as info:
        load("vqav2", vqav2_dir)
    message = str(info.value)
    assert "missing under" in message and "v2_mscoco_val2014_annotations.json" in message
    assert "v2_OpenEnded_mscoco_val2014_questions.json" in message
    assert "fseval tasks show vqav2" in message
    assert f"missing under {vqav2_dir}:" in message  # the folder given, not a D/vqav2 that does not exist


def test_missing_image_folder(vqav2_dir: Path) -> None:
    for image in (vqav2_dir / "train2014").iterdir():
        image.unlink()
    (vqav2_dir / "train2014").rmdir()
    with pytest.raises(DataError, match=r"media folder .*train2014 does not exist"):
        load("vqav2", vqav2_dir)


def test_malformed_json_and_missing_field(vqav2_dir: Path) -> None:
    path = vqav2_dir / "v2_OpenEnded_mscoco_val2014_questions.json"
    path.write_text('{"questions": [')
    with pytest.raises(DataError, match="is not valid JSON"):
        load("vqav2", vqav2_dir)
    path.write_text(json.dumps({"questions": [{"image_id": 1, "question": "q?"}]}))
    with pytest.raises(DataError, match=r"questions\[0\] has no field 'question_id'"):
        load("vqav2", vqav2_dir)


def test_question_without_annotation(vqav2_dir: Path) -> None:
    path = vqav2_dir / "v2_mscoco_val2014_annotations.json"
    data = json.loads(path.read_text())
    data["annotations"] = data["annotations"][1:]
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="has no annotation for question_id"):
        load("vqav2", vqav2_dir)


def test_hugging_face_parquet_copy_maps_to_the_same_samples(tmp_path: Path, vqav2_dir: Path) -> None:
    import datasets

    original = load("vqav2", vqav2_dir)
    root = tmp_path / "hf"
    (root / "data").mkdir(parents=True)
    for split, samples in (("validation", original.eval), ("train", original.demo_pool)):
        rows = {
            "question_id": [s.id for s in samples],
            "question": [s.fields["question"] for s in samples],
            "image_id": [s.fields["image_id"] for s in samples],
            "answers": [
                [
                    {"answer": a, "answer_confidence": "yes", "answer_id": i + 1}
                    for i, a in enumerate(s.fields["answers"])
                ]
                for s in samples
            ],
            "image": [{"bytes": s.media[0].path.read_bytes(), "path": None} for s in samples],
        }
        features = datasets.Features(
            {
                "question_id": datasets.Value("int64"),
                "question": datasets.Value("string"),
                "image_id": datasets.Value("int64"),
                "answers": [
                    {
                        "answer": datasets.Value("string"),
                        "answer_confidence": datasets.Value("string"),
                        "answer_id": datasets.Value("int64"),
                    }
                ],
                "image": datasets.Image(),
            }
        )
        datasets.Dataset.from_dict(rows, features=features).to_parquet(
            root / "data" / f"{split}-00000-of-00001.parquet"
        )
    copy = load("vqav2", root)
    assert [s.id for s in copy.eval] == [s.id for s in original.eval]
    assert [s.fields["answers"] for s in copy.eval] == [s.fields["answers"] for s in original.eval]
    assert [s.fields["answer_meta"] for s in copy.eval] == [s.fields["answer_meta"] for s in original.eval]
    assert copy.eval[0].media[0].data is not None  # images embedded in the parquet file


def test_hub_dataset_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="not in the Hugging Face cache") as error:
        load("vqav2", "hf:openflamingo/eval_benchmark")
    assert "hf download --repo-type dataset openflamingo/eval_benchmark" in str(error.value)  # today's CLI
