"""planner.grouping and the string columns of planner.contract.arrays: first rows and codes by hashing equal the
sort (tests.naive) and Arrow's dictionary_encode, whatever the hashes do."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from planner import grouping
from planner.contract.arrays import first_rows_of_strings, string_codes
from planner.stages.index import group_rows
from tests import naive


def _first_rows_by_dict(*keys: np.ndarray) -> list[int]:
    seen: dict[tuple[int, ...], int] = {}
    return [seen.setdefault(k, i) for i, k in enumerate(zip(*(key.tolist() for key in keys)))]


@pytest.mark.parametrize("n", [0, 1, 2, 17, 5000, 40000])
def test_first_rows_of_keys(rng: np.random.Generator, n: int) -> None:
    keys = (rng.integers(0, 40, n), rng.integers(-3, 3, n), rng.integers(0, 2, n) * (1 << 62))
    assert grouping.first_rows(*keys).tolist() == _first_rows_by_dict(*keys)


def test_group_rows_equals_the_sort(rng: np.random.Generator) -> None:
    n = 30000
    lat = rng.choice([40.0, -0.0, 0.0, 40.5, np.nextafter(40.0, 41.0)], n)
    bits = (lat + 0.0).view(np.int64)
    keys = (rng.integers(0, 2, n), np.where(rng.random(n) < 0.5, rng.integers(0, 900, n), bits),
            rng.integers(-1, 3, n), rng.integers(-2, 0, n))
    group, first = group_rows(*keys)
    expected_group, expected_first = naive.group_rows_by_sorting(*keys)
    assert group.dtype == np.int32 and first.dtype == np.int64
    assert np.array_equal(group, expected_group)
    assert np.array_equal(first, expected_first)


@pytest.mark.parametrize("n", [1, 2, 5000])
def test_group_rows_without_hashing_equals_the_sort(rng: np.random.Generator, n: int) -> None:
    """Constant keys are left out and one key of small codes is numbered through a table: the same groups."""
    codes = rng.integers(0, max(n // 3, 1), n)
    constant = np.full(n, -1, np.int64)
    for keys in ((codes, constant), (constant, constant), (codes * 2, np.zeros(n, np.int16)),
                 (codes + 2 * n, constant), (codes - 1, constant), (codes, rng.integers(0, 2, n))):
        group, first = group_rows(*keys)
        expected_group, expected_first = naive.group_rows_by_sorting(*keys)
        assert group.dtype == np.int32 and first.dtype == np.int64
        assert np.array_equal(group, expected_group)
        assert np.array_equal(first, expected_first)


@pytest.mark.parametrize("n", [0, 1, 3000])
def test_unique_inverse_equals_numpy(rng: np.random.Generator, n: int) -> None:
    for values in (rng.integers(-(1 << 62), 1 << 62, n), rng.integers(-1, 2, n).astype(np.int8),
                   rng.integers(0, 50, n) * (1 << 55)):
        distinct, inverse = grouping.unique_inverse(values)
        expected, expected_inverse = np.unique(values, return_inverse=True)
        assert distinct.dtype == values.dtype
        assert np.array_equal(distinct, expected) and np.array_equal(inverse, expected_inverse.reshape(-1))


def test_group_min_max_equals_ufunc_at(rng: np.random.Generator) -> None:
    group = rng.integers(0, 50, 4000)
    values = (rng.normal(size=4000), rng.uniform(-180, 180, 4000))
    low, high = grouping.group_min_max(group, 60, *values)  # groups 50-59 have no rows
    for c, v in enumerate(values):
        want_low, want_high = np.full(60, np.inf), np.full(60, -np.inf)
        np.minimum.at(want_low, group, v)
        np.maximum.at(want_high, group, v)
        assert np.array_equal(low[c], want_low) and np.array_equal(high[c], want_high)


def test_colliding_hashes_never_merge_groups(rng: np.random.Generator) -> None:
    # every row with the same hash, in one partition: only the key comparison separates the groups
    n = 3000
    keys = (rng.integers(0, 50, n), rng.integers(0, 3, n))
    columns = tuple(np.ascontiguousarray(k, np.int64) for k in keys)
    found = np.empty(n, np.int64)
    grouping._first_rows_of_keys(columns, np.zeros(n, np.uint64), np.arange(n), np.array([0, n]), found)
    assert found.tolist() == _first_rows_by_dict(*keys)
    strings = pa.array([f"s{k}" for k in keys[0].tolist()])
    offsets = np.frombuffer(strings.buffers()[1], np.int32)[: n + 1].astype(np.int64)
    data = np.frombuffer(strings.buffers()[2], np.uint8)
    grouping._first_rows_of_strings(offsets, data, np.zeros(n, np.uint64), np.arange(n), np.array([0, n]), found)
    assert found.tolist() == _first_rows_by_dict(keys[0])


def _strings(rng: np.random.Generator, n: int) -> list[str | None]:
    pool = ["", "a", "b", "ab", "ba", "A0000001", "é", "日本", "a" * 40, "a" * 41]
    return [None if rng.random() < 0.1 else str(rng.choice(pool)) + str(rng.integers(0, 30)) * int(rng.random() < 0.5)
            for _ in range(n)]


@pytest.mark.parametrize("kind", ["array", "chunked", "sliced", "large", "dictionary", "no nulls"])
def test_string_codes_equal_dictionary_encode(rng: np.random.Generator, kind: str) -> None:
    values = _strings(rng, 3000)
    if kind == "no nulls":
        values = [v or "x" for v in values]
    column: pa.Array | pa.ChunkedArray = pa.array(values, pa.string())
    if kind == "chunked":
        column = pa.chunked_array([column[:1000], column[1000:1000], column[1000:]])
    elif kind == "sliced":
        column = column[7:2500]
    elif kind == "large":
        column = pa.chunked_array([column[:10].cast(pa.large_string()), column[10:].cast(pa.large_string())])
    elif kind == "dictionary":  # not plain strings: Arrow's own hash encoding answers
        column = column.dictionary_encode()
    plain = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(plain.type):
        plain = plain.cast(pa.string())
    expected = plain.dictionary_encode().indices.fill_null(-1).to_numpy(zero_copy_only=False)
    assert string_codes(column).tolist() == expected.tolist()
    first = first_rows_of_strings(column)
    listed = plain.to_pylist()
    assert first.tolist() == [-1 if v is None else listed.index(v) for v in listed]


def test_empty_string_columns() -> None:
    assert string_codes(pa.chunked_array([], pa.string())).tolist() == []
    assert string_codes(pa.array([None, None], pa.string())).tolist() == [-1, -1]
    assert string_codes(pa.array(["", ""], pa.string())).tolist() == [0, 0]


def test_dictionary_columns_are_numbered_by_first_appearance() -> None:
    column = pa.DictionaryArray.from_arrays(pa.array([2, 0, 2, None, 1]), pa.array(["x", "y", "z"]))
    assert string_codes(column).tolist() == [0, 1, 0, -1, 2]
