"""Splits: deterministic, disjoint, by column or seeded permutation, query filter first, recordable."""
import json

import deeplake
import numpy as np
import pytest
from deeplake import types as T

from segstudio.base.config import DataConfig
from segstudio.base.errors import DataError
from segstudio.data.splits import Split, make_split, where_clause


@pytest.fixture(scope="module")
def ds():
    d = deeplake.create("mem://splits-test")
    d.add_column("categories", T.ClassLabel(T.Array("uint32", 1)))
    d.add_column("split", T.Text())
    n = 50
    d.append({"categories": [np.asarray([i % 3], np.uint32) for i in range(n)],
              "split": ["val" if i % 5 == 0 else ("test" if i % 7 == 0 else "train") for i in range(n)]})
    d.commit()
    return d


def test_random_split_is_deterministic_disjoint_and_complete(ds):
    a, b = make_split(ds, DataConfig(split_seed=3)), make_split(ds, DataConfig(split_seed=3))
    assert a.to_dict() == b.to_dict() and a.method == "random"
    assert not set(a.train) & set(a.val) and sorted(a.train + a.val) == list(range(50))
    assert len(a.val) == 10 and a.train == sorted(a.train)
    assert make_split(ds, DataConfig(split_seed=4)).val != a.val


def test_split_by_column_with_keyword_name(ds):
    s = make_split(ds, DataConfig(split_column="split"))
    assert s.val == list(range(0, 50, 5))
    assert 7 not in s.train and 14 not in s.train and 1 in s.train     # "test" rows are in neither
    assert s.details["split_column"] == "split"


def test_query_filters_first(ds):
    s = make_split(ds, DataConfig(split_column="split", query="WHERE CONTAINS(categories, 1)"))
    assert all(i % 3 == 1 for i in s.train + s.val)
    r = make_split(ds, DataConfig(query="SELECT * WHERE \"split\" = 'train'", val_fraction=0.5))
    assert all(i % 5 and i % 7 for i in r.train + r.val)


@pytest.mark.parametrize("cfg, match", [
    (DataConfig(query="CONTAINS(nosuch, 1)"), "data.query .* is invalid: .*nosuch"),
    (DataConfig(query="(("), "is invalid"),
    (DataConfig(query="SELECT images WHERE x = 1"), "not a SELECT"),
    (DataConfig(query="CONTAINS(categories, 9)"), "selects no rows"),
    (DataConfig(split_column="nosuch"), "Split column 'nosuch' does not exist"),
    (DataConfig(split_column="split", val_value="validation"), r"No validation rows.*data.val_value"),
])
def test_errors_are_one_sentence(ds, cfg, match):
    with pytest.raises(DataError, match=match):
        make_split(ds, cfg)


def test_roundtrip_and_reuse_checks(ds):
    s = make_split(ds, DataConfig())
    again = Split.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again.train == s.train and again.val == s.val and again.details == s.details
    assert again.check(50) is again
    with pytest.raises(DataError, match="dataset has 10 rows"):
        again.check(10)
    with pytest.raises(DataError, match="malformed"):
        Split.from_dict({"train": [1]})


def test_where_clause_forms():
    assert where_clause("") == ""
    assert where_clause("WHERE a = 1") == where_clause("select * where a = 1;") == where_clause("a = 1") == "a = 1"
