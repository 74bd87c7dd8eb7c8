"""`Detections`: validation, indexing, merge/equality, counts and sorting."""

from __future__ import annotations

import numpy as np
import pytest

from detect_cli.core.detections import Detections
from tests.helpers import make_detections


@pytest.mark.parametrize(
    ("xyxy", "confidence", "class_id", "field", "expected", "actual"),
    [
        (np.zeros((3, 4)), np.zeros(2), np.zeros(3), "confidence", "(3,)", "(2,)"),
        (np.zeros((3, 4)), np.zeros(3), np.zeros(5), "class_id", "(3,)", "(5,)"),
        (np.zeros((0, 4)), np.zeros(1), np.zeros(0), "confidence", "(0,)", "(1,)"),
        (np.zeros((4, 5)), np.zeros(4), np.zeros(4), "xyxy", "(N, 4)", "(4, 5)"),
        (np.zeros((2, 2)), np.zeros(1), np.zeros(1), "xyxy", "(N, 4)", "(2, 2)"),
        (np.zeros((2, 4, 1)), np.zeros(2), np.zeros(2), "xyxy", "(N, 4)", "(2, 4, 1)"),
    ],
)
def test_shape_errors_name_field_expected_and_actual(xyxy, confidence, class_id, field, expected, actual):
    with pytest.raises(ValueError) as info:
        Detections(xyxy, confidence, class_id)
    message = str(info.value)
    assert field in message
    assert expected in message
    assert actual in message


def test_arrays_are_normalised_to_documented_dtypes_and_shapes():
    d = Detections([[1, 2, 3, 4]], [0.5], [2.0])
    assert d.xyxy.shape == (1, 4) and d.xyxy.dtype == np.float32
    assert d.confidence.shape == (1,) and d.confidence.dtype == np.float32
    assert d.class_id.shape == (1,) and d.class_id.dtype == np.int64
    single = Detections(np.array([1, 2, 3, 4]), 0.5, 2)  # one box given flat
    assert single == d


@pytest.mark.parametrize(
    "index",
    [
        pytest.param(np.array([True, False, True, False, True, True]), id="bool-mask"),
        pytest.param(2, id="int"),
        pytest.param(-1, id="negative-int"),
        pytest.param(np.int64(3), id="numpy-int"),
        pytest.param([4, 0], id="list"),
        pytest.param(slice(1, 4), id="slice"),
        pytest.param(np.array([], dtype=int), id="empty-array"),
    ],
)
def test_indexing_returns_new_detections_with_the_selected_rows(index):
    d = make_detections(6, seed=1)
    rows = np.arange(6)[index]
    rows = np.atleast_1d(rows)
    picked = d[index]
    assert isinstance(picked, Detections)
    assert picked is not d
    assert len(picked) == len(rows)
    np.testing.assert_array_equal(picked.xyxy, d.xyxy[rows])
    np.testing.assert_array_equal(picked.confidence, d.confidence[rows])
    np.testing.assert_array_equal(picked.class_id, d.class_id[rows])
    assert len(d) == 6  # the original is untouched


def test_boolean_mask_filters_by_confidence():
    d = make_detections(20, seed=2)
    kept = d[d.confidence >= 0.5]
    assert len(kept) == int((d.confidence >= 0.5).sum())
    assert (kept.confidence >= 0.5).all()


def test_empty():
    e = Detections.empty()
    assert len(e) == 0
    assert e.xyxy.shape == (0, 4)
    assert e.counts() == {}
    assert list(e) == []
    assert e == Detections.empty()
    assert len(e.sorted_by_confidence()) == 0


@pytest.mark.parametrize("sizes", [[], [0], [3], [2, 0, 4], [1, 1, 1]])
def test_merge_concatenates_in_order(sizes):
    parts = [make_detections(n, seed=i) for i, n in enumerate(sizes)]
    merged = Detections.merge(parts)
    assert len(merged) == sum(sizes)
    offset = 0
    for part in parts:
        assert merged[np.arange(offset, offset + len(part))] == part
        offset += len(part)


def test_iteration_yields_python_scalars():
    d = make_detections(3, seed=4)
    items = list(d)
    assert len(items) == 3
    for (box, conf, cls), i in zip(items, range(3)):
        assert type(conf) is float and type(cls) is int
        np.testing.assert_array_equal(box, d.xyxy[i])
        assert cls == d.class_id[i]


@pytest.mark.parametrize(
    ("change", "equal"),
    [
        (lambda x, c, k: (x, c, k), True),
        (lambda x, c, k: (x + 1e-4, c, k), True),  # within box tolerance
        (lambda x, c, k: (x + 0.5, c, k), False),
        (lambda x, c, k: (x, c + 1e-7, k), True),
        (lambda x, c, k: (x, c + 0.01, k), False),
        (lambda x, c, k: (x, c, k + 1), False),
        (lambda x, c, k: (x[:-1], c[:-1], k[:-1]), False),
    ],
)
def test_equality(change, equal):
    d = make_detections(4, seed=5)
    other = Detections(*change(d.xyxy.copy(), d.confidence.copy(), d.class_id.copy()))
    assert (d == other) is equal
    assert (d != other) is not equal


def test_not_equal_to_other_types_and_unhashable():
    d = make_detections(2)
    assert d != "boxes"
    assert d != [tuple(b) for b in d.xyxy]
    with pytest.raises(TypeError):
        hash(d)


@pytest.mark.parametrize(
    ("class_id", "expected"),
    [
        ([], {}),
        ([0], {0: 1}),
        ([2, 0, 2, 2, 7], {0: 1, 2: 3, 7: 1}),
        ([5, 5, 5], {5: 3}),
    ],
)
def test_counts(class_id, expected):
    n = len(class_id)
    d = Detections(np.tile([0, 0, 10, 10], (n, 1)), np.full(n, 0.5), class_id)
    assert d.counts() == expected
    assert all(type(k) is int and type(v) is int for k, v in d.counts().items())


def test_sorted_by_confidence_descending_and_stable_on_ties():
    conf = np.array([0.3, 0.9, 0.3, 0.5, 0.9])
    xyxy = np.arange(20, dtype=float).reshape(5, 4)  # row i starts at 4 * i: identifies the original row
    d = Detections(xyxy, conf, np.arange(5))
    s = d.sorted_by_confidence()
    assert s.class_id.tolist() == [1, 4, 3, 0, 2]
    np.testing.assert_array_equal(s.xyxy[:, 0], [4, 16, 12, 0, 8])
    assert len(d) == 5 and d.class_id.tolist() == [0, 1, 2, 3, 4]  # not sorted in place


@pytest.mark.parametrize("seed", range(3))
def test_sorted_by_confidence_is_a_permutation(seed):
    d = make_detections(15, seed=seed)
    s = d.sorted_by_confidence()
    assert (np.diff(s.confidence) <= 0).all()
    assert s.counts() == d.counts()
    assert sorted(map(tuple, s.xyxy.tolist())) == sorted(map(tuple, d.xyxy.tolist()))
