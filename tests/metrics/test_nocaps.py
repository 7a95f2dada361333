"""NoCaps' CIDEr overall and per domain against pycocoevalcap's COCOEvalCap on a NoCaps-shaped set
(``scripts/make_nocaps_fixture.py``), the published numbers that fix how a domain's CIDEr is computed, and the
``caption`` metric on TextCaps-shaped captions against the same evaluation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fseval.metrics import get_metric
from fseval.metrics.nocaps import DOMAINS, check_target

OFFICIAL = Path(__file__).parents[1] / "fixtures" / "official_nocaps" / "cases.json"
NAMES = {"BLEU-1": "Bleu_1", "BLEU-2": "Bleu_2", "BLEU-3": "Bleu_3", "BLEU-4": "Bleu_4", "METEOR": "METEOR",
         "ROUGE-L": "ROUGE_L", "CIDEr": "CIDEr"}  # fmt: skip

# nocaps-org/updown-baseline's README (d124faa): val CIDEr in-domain, near-domain, out-domain and overall of its
# three released models, as the EvalAI server scored them; val has 648, 2938 and 914 images of each domain.
PUBLISHED = [(78.1, 57.7, 31.3, 55.3), (78.6, 73.5, 68.8, 73.3), (75.7, 58.0, 32.9, 55.4)]
VAL_IMAGES = (648, 2938, 914)


def official() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(OFFICIAL.read_text(encoding="utf-8"))
    return found


def targets(images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"references": image["references"], "domain": image["domain"]} for image in images]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="PTB tokenizer and METEOR need Java")
def test_equals_coco_eval_cap_overall_and_per_domain() -> None:
    case = official()
    images = case["images"]
    result = get_metric("nocaps_cider").score([image["prediction"] for image in images], targets(images), "ptb")
    assert result.value == 100 * case["entire"]["scores"]["CIDEr"]
    assert result.per_sample == [case["entire"]["per_image_cider"][str(image["id"])] for image in images]
    assert {name: result.extra[name] for name in NAMES} == {
        ours: 100 * case["entire"]["scores"][name] for ours, name in NAMES.items()
    }
    assert {domain: result.extra[f"CIDEr {domain}"] for domain in DOMAINS} == {
        domain: 100 * value for domain, value in case["domains"].items()
    }
    # Each domain scored as a split of its own (IDF from its references alone) gives other numbers.
    for domain in DOMAINS:
        assert abs(result.extra[f"CIDEr {domain}"] - 100 * case["domains_alone"][domain]) > 0.5


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("java") is None, reason="PTB tokenizer and METEOR need Java")
def test_textcaps_caption_metric_equals_coco_eval_cap() -> None:
    case = official()["textcaps"]
    images = case["images"]
    references = [{"references": image["references"]} for image in images]
    result = get_metric("caption").score([image["prediction"] for image in images], references, "ptb")
    assert result.per_sample == [case["per_image_cider"][str(image["id"])] for image in images]
    assert {name: result.extra[name] for name in NAMES} == {
        ours: 100 * case["scores"][name] for ours, name in NAMES.items()
    }


def test_published_entire_cider_is_the_image_weighted_mean_of_the_domains() -> None:
    for *domains, entire in PUBLISHED:
        weighted = sum(n * cider for n, cider in zip(VAL_IMAGES, domains, strict=True)) / sum(VAL_IMAGES)
        # Each number is printed to 0.1: the weighted mean of rounded domains is off by 0.05 at most, and so is entire.
        assert abs(weighted - entire) <= 0.1


def test_fixture_covers_every_domain_and_nocaps_shape() -> None:
    images = official()["images"]
    assert {image["domain"] for image in images} == set(DOMAINS)
    assert {len(image["references"]) for image in images} == {10}
    assert "" in [image["prediction"] for image in images]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"references": ["a dog"], "domain": "near-domain"}, None),
        ({"references": ["a dog"], "domain": "out-of-domain"}, "domain should be one of"),
        ({"references": [], "domain": "in-domain"}, "references should be a non-empty list"),
    ],
)
def test_targets_need_references_and_a_domain(fields: dict[str, Any], problem: str | None) -> None:
    found = check_target(fields)
    assert found == problem if problem is None else problem in (found or "")


def test_results_format_is_the_evalai_submission() -> None:
    metric = get_metric("nocaps_cider")
    assert metric.result_format.id_key == "image_id" and metric.result_format.shape == '[{"image_id", "caption"}]'
    assert metric.target_fields == ("references", "domain") and metric.headline == "CIDEr"
