"""Record scikit-learn's ``roc_auc_score`` on a Hateful Memes submission CSV that ``fseval export`` wrote.

The challenge scored ``proba`` of the submission CSV (``id,proba,label``) by ROC AUC against the split's
labels, as OpenFlamingo scores Hateful Memes with ``sklearn.metrics.roc_auc_score``.
``tests/reports/test_submission.py`` checks that fseval's export of a mock run on test_seen is this CSV,
byte for byte, and that the run's own score is this AUC. Run it in a throwaway venv with the pinned
scikit-learn, not in fseval's environment (the CSV and labels come from the test's data writer and a
mock run, exported by fseval beforehand):

    cd /tmp && python3 -c "import sys; sys.path.insert(0, '/path/to/fseval/tests'); \
        from pathlib import Path; from data_writers import write_hateful_memes_test; \
        write_hateful_memes_test(Path('hm'))"
    fseval run --model mock --model-arg mode=field --model-arg field=text --task hateful_memes_test_seen \
        --data-dir hm --shots 0 -o hm_run && fseval export hm_run -o hm_export
    python3 -m venv /tmp/sk && /tmp/sk/bin/pip install scikit-learn==1.5.2 "numpy<2.2"
    /tmp/sk/bin/python scripts/make_submission_auc_fixture.py hm_export/hateful_memes_test_seen_0shot_seed42.csv \
        hm/test_seen.jsonl tests/fixtures/official_submission/hateful_memes_test_seen.json
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import sklearn
from sklearn.metrics import roc_auc_score


def main() -> None:
    submission, labels_file, out = map(Path, sys.argv[1:4])
    text = submission.read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    labels = {item["id"]: item["label"] for item in map(json.loads, labels_file.read_text().splitlines()) if item}
    truth = [labels[int(row["id"])] for row in rows]
    auc = roc_auc_score(truth, [float(row["proba"]) for row in rows])
    record = {
        "scikit_learn": sklearn.__version__,
        "function": "sklearn.metrics.roc_auc_score(labels, proba) on the CSV's rows",
        "labels": {row["id"]: label for row, label in zip(rows, truth, strict=True)},
        "csv": text,
        "roc_auc": float(auc),
    }
    out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"ROC AUC {auc!r} on {len(rows)} rows")


if __name__ == "__main__":
    main()
