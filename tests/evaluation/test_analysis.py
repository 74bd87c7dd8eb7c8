"""The analysis as --format json carries it: plain JSON, the options honoured, every pair of models."""

from __future__ import annotations

import json

from detect_cli.evaluation.analysis import analyse, analyse_models
from tests.evaluation.synthetic import NAMES, random_images


def test_the_analysis_is_plain_json_with_every_number() -> None:
    analysis = analyse(random_images(0, n_images=10), NAMES, conf=0.3, matrix_conf=0.5, matrix_iou=0.4, worst=2)
    doc = json.loads(json.dumps(analysis.as_dict()))  # no NumPy value left in it
    assert doc["conf"] == 0.3 and len(doc["worst_images"]) == 2
    assert (doc["confusion_matrix"]["conf"], doc["confusion_matrix"]["iou"]) == (0.5, 0.4)
    assert len(doc["f1_curves"]["overall"]["f1"]) == 101 and len(doc["pr_curves"]["classes"]) == 4
    assert [e["type"] for e in doc["tide"]["errors"]] == ["cls", "loc", "both", "dupe", "bkg", "missed"]
    assert len(analysis.scores) == 10  # every image's errors, for compare


def test_every_pair_of_models_is_compared() -> None:
    sets = [random_images(seed, n_images=6) for seed in range(3)]
    models = analyse_models(["a", "b", "c"], sets, [NAMES] * 3, conf=0.3, worst=1)
    assert [(d.a, d.b) for d in models.differences] == [("a", "b"), ("a", "c"), ("b", "c")]
    doc = json.loads(json.dumps(models.as_dict(2)))
    assert set(doc["models"]) == {"a", "b", "c"} and all(len(d["images"]) <= 2 for d in doc["differences"])
