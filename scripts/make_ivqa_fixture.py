"""Record Just Ask's own iVQA accuracy on a set of cases, as the fixture fseval's ``ivqa_accuracy`` is tested against.

Just Ask (Yang et al., ICCV 2021, github.com/antoyang/just-ask) scores iVQA in ``train/train_videoqa.py``'s
``eval``: ``data/videoqa_loader.py``'s ``VideoQADataset`` reads the CSV with pandas and counts each of the five
answers that is in the answer vocabulary, ``eval`` halves the counts and clips them at 1, and
``util.compute_aggreeings`` takes the value of the predicted answer; the headline is the mean over questions.
This script runs those three, unmodified, on a CSV of edge cases: an answer given 0 to 5 times, answers that
differ from the prediction in case or surrounding spaces, cells that pandas reads as missing (empty, ``NA``,
``null``, ...), numbers, commas and quotes, non-ASCII text. Only the model and the video features are stand-ins
(a model whose top answer is the case's prediction, zero features, a tokenizer that ignores the question), and
``Tensor.cuda`` is the identity so the code runs on a CPU. The vocabulary holds every answer and prediction,
so each prediction is an answer the official code can output.

Regenerate (Python 3.8 for the pinned wheels; the commit is the repository's head as fetched):

    git clone https://github.com/antoyang/just-ask /tmp/just-ask
    git -C /tmp/just-ask checkout b58f08e7795cdeecf5fee721287126ba681bd4d0
    python3.8 -m venv /tmp/justask && /tmp/justask/bin/pip install torch==1.9.0 numpy==1.22.0 pandas==1.1.1
    /tmp/justask/bin/python scripts/make_ivqa_fixture.py /tmp/just-ask tests/fixtures/official_ivqa/ivqa_cases.json

(``requirements.txt`` of that commit pins torch 1.9.0, numpy 1.22.0 and pandas 1.1.1; nothing else is used.)
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

COLUMNS = ["video_id", "start", "end", "question", "answer1", "answer2", "answer3", "answer4", "answer5", "type"]

# (five answers as written in the CSV, the prediction)
CASES: list[tuple[list[str], str]] = [
    (["dog", "cat", "bird", "fish", "cow"], "horse"),  # given by nobody
    (["dog", "cat", "bird", "fish", "cow"], "dog"),  # once
    (["dog", "dog", "bird", "fish", "cow"], "dog"),  # twice
    (["dog", "dog", "dog", "fish", "cow"], "dog"),  # three times
    (["dog", "dog", "dog", "dog", "cow"], "dog"),  # four times
    (["dog", "dog", "dog", "dog", "dog"], "dog"),  # five times
    (["dog", "dog", "dog", "dog", "dog"], "cat"),  # five times another answer
    (["cooking", "cooking", "baking", "baking", "frying"], "baking"),  # two answers with two votes each
    (["cooking", "cooking", "baking", "baking", "frying"], "frying"),
    (["Dog", "Dog", "DOG", "dog", "cat"], "dog"),  # case differs: only the exact spelling counts
    (["Dog", "Dog", "DOG", "dog", "cat"], "Dog"),
    ([" dog", "dog ", " dog ", "dog", "cat"], "dog"),  # surrounding spaces are kept by pandas
    (["a dog", "a dog", "dog", "the dog", "dogs"], "dog"),  # no article or plural normalisation
    (["NA", "NA", "null", "nan", "n/a"], "NA"),  # strings pandas reads as missing never match
    (["null", "null", "N/A", "NULL", "NaN"], "null"),
    (["nan", "nan", "", "", "#N/A"], "nan"),
    (["", "", "", "dog", "dog"], "dog"),  # empty cells
    (["None", "None", "none", "cat", "dog"], "None"),  # not a missing value for pandas 1.1.1
    (["2", "2", "two", "3", "02"], "2"),  # numbers in a column of strings stay strings
    (["02", "2", "two", "3", "02"], "02"),
    (["1.5", "1.50", "1.5", "two", "3"], "1.5"),
    (["True", "True", "true", "yes", "no"], "True"),
    (["red, blue", "red, blue", "red", "blue", "green"], "red, blue"),  # commas inside a quoted cell
    (['the "big" one', 'the "big" one', "big", "one", "small"], 'the "big" one'),  # quotes
    (["café", "café", "cafe", "coffee", "tea"], "café"),  # non-ASCII
    (["washing dishes", "washing dishes", "washing", "dishes", "cleaning"], "washing dishes"),
    (["washing dishes", "washing dishes", "washing", "dishes", "cleaning"], "washing"),
]


def csv_text() -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i, (answers, _) in enumerate(CASES):
        writer.writerow([f"vid{i:08d}abc"[:11], 2 * i, 2 * i + 9, f"what is shown in clip {i}?", *answers, 0])
    return buffer.getvalue()


class StubTokenizer:
    """The question's tokens do not reach the stand-in model; any valid ids do."""

    def encode(self, text: str, **kwargs: Any) -> list[int]:
        return [101, 102]


def official_scores(repo: Path) -> tuple[list[float], float, dict[str, str]]:
    """Per-case scores (one question per run) and the overall accuracy (all cases, batches of 4)."""
    sys.path.insert(0, str(repo))
    import numpy
    import pandas
    import torch
    from torch.utils.data import DataLoader, Subset

    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    from data.videoqa_loader import VideoQADataset, videoqa_collate_fn  # type: ignore[import-not-found]
    from train.train_videoqa import eval as official_eval  # type: ignore[import-not-found]

    vocabulary = sorted({a for answers, _ in CASES for a in answers} | {p for _, p in CASES})
    vocabulary += [f"filler{i}" for i in range(10)]  # eval takes the top 10 answers
    a2id = {answer: i for i, answer in enumerate(vocabulary)}

    class Model:
        """Ranks the case's prediction first, as a model whose top answer it is."""

        def __init__(self, predictions: list[str]) -> None:
            self.module, self.todo = self, list(predictions)

        def eval(self) -> None:
            pass

        def _compute_answer_embedding(self, a2v: Any) -> None:
            pass

        def __call__(self, video: Any, question: Any, **kwargs: Any) -> Any:
            logits = torch.zeros(video.size(0), len(a2id))
            for row in range(video.size(0)):
                logits[row, a2id[self.todo.pop(0)]] = 1.0
            return logits

    args = type("Args", (), {"mc": 0, "dataset": "ivqa"})()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "test.csv"
        path.write_text(csv_text(), encoding="utf-8")
        features = {f"vid{i:08d}abc"[:11]: torch.zeros(3, 4) for i in range(len(CASES))}
        dataset = VideoQADataset(str(path), features, bert_tokenizer=StubTokenizer(), a2id=a2id, ivqa=True)
        predictions = [p for _, p in CASES]
        per_case = []
        for i, prediction in enumerate(predictions):
            loader = DataLoader(Subset(dataset, [i]), batch_size=1, collate_fn=videoqa_collate_fn)
            per_case.append(float(official_eval(Model([prediction]), loader, None, args)))
        loader = DataLoader(dataset, batch_size=4, shuffle=False, collate_fn=videoqa_collate_fn)
        overall = float(official_eval(Model(predictions), loader, None, args))
    from pandas._libs.parsers import STR_NA_VALUES

    versions = {"torch": torch.__version__, "numpy": numpy.__version__, "pandas": pandas.__version__}
    versions["pandas_na_values"] = sorted(STR_NA_VALUES)  # type: ignore[assignment]
    return per_case, overall, versions


def main(repo: Path, out: Path) -> None:
    per_case, overall, versions = official_scores(repo)
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    record = {
        "source": "github.com/antoyang/just-ask",
        "commit": commit.strip(),
        "code": "train/train_videoqa.py eval, data/videoqa_loader.py VideoQADataset, util.compute_aggreeings",
        **versions,
        "csv": csv_text(),
        "cases": [{"answers": a, "prediction": p, "score": per_case[i]} for i, (a, p) in enumerate(CASES)],
        "accuracy": overall,
    }
    out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
