"""Write tests/fixtures/official_vqa: a VQAv2-format file set and what the official VQA script reports on it.

The official evaluator (GT-Vision-Lab/VQA, ``PythonEvaluationTools/vqaEvaluation/vqaEval.py`` with
``PythonHelperTools/vqaTools/vqa.py``) is Python 2 and needs only the standard library. This script
writes a seeded file set in the release's format (questions, annotations with ``question_type`` and
``answer_type``, a results file), converts the two official files with lib2to3 (print statements
only change) into a temporary folder, runs them there, and saves their ``accuracy`` (overall,
perQuestionType, perAnswerType) and ``evalQA`` next to the files. ``tests/metrics/test_breakdown.py``
compares ``fseval score`` with them; nothing of the official code is kept.

    python3.11 scripts/make_official_vqa_fixture.py --vqa-repo ~/src/VQA   # a checkout of GT-Vision-Lab/VQA

lib2to3 ships with Python up to 3.12.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

QUESTIONS = "v2_OpenEnded_mscoco_val2014_questions.json"
ANNOTATIONS = "v2_mscoco_val2014_annotations.json"
RESULTS = "results.json"
OFFICIAL = "official.json"

# question type -> (answer type, the answers annotators give, with the spellings they use)
KINDS = {
    "how many": ("number", ["2", "two", "3", "Three", "4", "0", "none", "1", "2 "]),
    "what number is": ("number", ["10", "ten", "7", "3.5", "1,000"]),
    "is the": ("yes/no", ["yes", "no", "Yes", "yes."]),
    "are there": ("yes/no", ["yes", "no", "no!"]),
    "does the": ("yes/no", ["yes", "no"]),
    "what color is the": ("other", ["red", "Red", "red.", "dark red", "white", "blue", "red and white"]),
    "what is the man": ("other", ["surfing", "skateboarding", "riding a horse", "a horse", "the horse"]),
    "what time": ("other", ["10:00", "noon", "3:30", "night", "morning"]),
    "what sport is": ("other", ["tennis", "baseball", "frisbee", "Frisbee", "tennis\n"]),
    "why": ("other", ["dont know", "don't know", "raining", "its cold", "it's cold"]),
    "where is the": ("other", ["on table", "table", "in the sky", "sky", "well-known place"]),
}


def file_set(n: int, seed: int) -> tuple[dict, dict, list[dict]]:
    """Questions, annotations and predictions: ``n`` questions of every kind, 10 answers each."""
    rng = random.Random(seed)
    questions, annotations, results = [], [], []
    types = sorted(KINDS)
    for index in range(n):
        question_type = types[index % len(types)]
        answer_type, vocabulary = KINDS[question_type]
        qid, image_id = 1000 + index, 500 + index // 3
        if rng.random() < 0.15:  # unanimous annotators: the official script then does not normalise
            answers = [rng.choice(vocabulary)] * 10
        else:
            common = rng.sample(vocabulary, k=min(3, len(vocabulary)))
            answers = [rng.choice(common) for _ in range(10)]
        questions.append({"image_id": image_id, "question": f"{question_type} {index}?", "question_id": qid})
        annotations.append(
            {
                "question_type": question_type,
                "multiple_choice_answer": max(sorted(set(answers)), key=answers.count),
                "answers": [
                    {"answer": a, "answer_confidence": rng.choice(["yes", "maybe"]), "answer_id": i + 1}
                    for i, a in enumerate(answers)
                ],
                "image_id": image_id,
                "answer_type": answer_type,
                "question_id": qid,
            }
        )
        prediction = rng.choice(answers + vocabulary + ["cat", "Yes", " red ", "2.", "a dog"])
        results.append({"question_id": qid, "answer": prediction})
    header = {
        "info": {"description": "fseval test file set"},
        "license": {"name": "CC BY 4.0"},
        "data_subtype": "val2014",
    }
    return (
        {**header, "task_type": "Open-Ended", "data_type": "mscoco", "questions": questions},
        {**header, "data_type": "mscoco", "annotations": annotations},
        results,
    )


RUNNER = """
import json, sys
from vqa import VQA
from vqaEval import VQAEval
folder = sys.argv[1]
vqa = VQA(folder + "/{annotations}", folder + "/{questions}")
result = vqa.loadRes(folder + "/{results}", folder + "/{questions}")
evaluator = VQAEval(vqa, result, n=2)
evaluator.evaluate()
json.dump({{"accuracy": evaluator.accuracy, "evalQA": evaluator.evalQA}}, open(sys.argv[2], "w"))
"""


def run_official(vqa_repo: Path, data: Path, out: Path) -> None:
    from lib2to3 import refactor  # deprecated, present up to Python 3.12

    tool = refactor.RefactoringTool(["lib2to3.fixes.fix_print"])
    with tempfile.TemporaryDirectory() as tmp:
        sources = {
            "vqa.py": vqa_repo / "PythonHelperTools/vqaTools/vqa.py",
            "vqaEval.py": vqa_repo / "PythonEvaluationTools/vqaEvaluation/vqaEval.py",
        }
        for name, path in sources.items():
            tree = tool.refactor_string(path.read_text(encoding="utf-8").expandtabs(4), name)
            (Path(tmp) / name).write_text(str(tree), encoding="utf-8")
        runner = RUNNER.format(annotations=ANNOTATIONS, questions=QUESTIONS, results=RESULTS)
        (Path(tmp) / "run.py").write_text(runner, encoding="utf-8")
        subprocess.run([sys.executable, "run.py", str(data.resolve()), str(out.resolve())], cwd=tmp, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vqa-repo", type=Path, required=True, help="a checkout of GT-Vision-Lab/VQA")
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/official_vqa"))
    parser.add_argument("--questions", type=int, default=330)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    questions, annotations, results = file_set(args.questions, seed=0)
    for name, content in ((QUESTIONS, questions), (ANNOTATIONS, annotations), (RESULTS, results)):
        (args.out / name).write_text(json.dumps(content, indent=0) + "\n", encoding="utf-8")
    official = args.out / OFFICIAL
    run_official(args.vqa_repo, args.out, official)
    commit = subprocess.run(
        ["git", "-C", str(args.vqa_repo), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    report = json.loads(official.read_text(encoding="utf-8"))
    report["made_by"] = {"vqa_commit": commit or "unknown", "python": sys.version.split()[0]}
    official.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    accuracy = report["accuracy"]
    print(f"overall {accuracy['overall']}; per answer type {accuracy['perAnswerType']}")


if __name__ == "__main__":
    main()
