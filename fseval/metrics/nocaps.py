"""NoCaps' CIDEr overall and per domain (in-domain, near-domain, out-domain), as its evaluation server reports them.

NoCaps is scored on EvalAI (challenge 355; phases 742 val, 743 test), whose evaluation script is not public.
``updown/utils/evalai.py`` of nocaps-org/updown-baseline, the benchmark's client, shows what it returns: four
splits, ``in-domain``, ``near-domain``, ``out-domain`` and ``entire``, each with the COCO caption metrics
(B1-B4, METEOR, ROUGE-L, CIDEr, SPICE), for predictions in COCO's ``[{"image_id", "caption"}]``.

How a domain's CIDEr is computed follows from the numbers the nocaps authors publish with that client
(updown-baseline's README, three models on val): each time the entire CIDEr equals the image-weighted mean
of the three domains' (648, 2938 and 914 images) to the printed 0.1, which holds when a domain's CIDEr is the
mean over its images of the per-image CIDEr-D of the evaluation of the entire split, its IDF from all 4,500
images' references. Scoring each domain as a split of its own (IDF from that domain's references, as a
``breakdown: [domain]`` would) gives other numbers; ``tests/metrics/test_nocaps.py`` checks both facts.
``scripts/make_nocaps_fixture.py`` records pycocoevalcap's ``COCOEvalCap`` on a NoCaps-shaped set.

Everything else is the ``caption`` metric (``captioning.py``): PTB tokenisation, CIDEr-D x100 as the value,
BLEU, METEOR and ROUGE-L of the entire split in ``extra``, next to ``CIDEr in-domain`` and its siblings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fseval.metrics import formats
from fseval.metrics.captioning import VARIANTS, machine_problems, score_captions
from fseval.metrics.registry import MetricResult, register_metric

DOMAINS = ("in-domain", "near-domain", "out-domain")


def check_target(fields: Mapping[str, Any]) -> str | None:
    """References to score against and one of the three domains."""
    problem = formats.non_empty_strings(fields, "references")
    if problem is None and fields.get("domain") not in DOMAINS:
        problem = f"domain should be one of {', '.join(DOMAINS)}, not {fields.get('domain')!r}"
    return problem


@register_metric(
    "nocaps_cider",
    variants=VARIANTS,
    default_variant="ptb",
    target_fields=("references", "domain"),
    result_format=formats.CAPTIONS,
    check_target=check_target,
    headline="CIDEr",
    environment=machine_problems,
    description="NoCaps: COCO caption evaluation, CIDEr-D x100 of the entire split; CIDEr per domain "
    "(in-, near-, out-domain, IDF from all images) and BLEU, METEOR, ROUGE-L in extra.",
)
def score_nocaps(predictions: Sequence[str], targets: Sequence[Mapping[str, Any]], variant: str) -> MetricResult:
    """The ``caption`` metric of the entire split, plus ``CIDEr <domain>``: the mean per-image CIDEr-D x100."""
    result = score_captions(predictions, targets, variant)
    extra = dict(result.extra)
    for domain in DOMAINS:
        scores = [s for s, target in zip(result.per_sample, targets, strict=True) if target["domain"] == domain]
        if scores:
            extra[f"CIDEr {domain}"] = 100 * float(np.mean(scores))  # as Cider averages its images
    return MetricResult(value=result.value, per_sample=result.per_sample, extra=extra)
