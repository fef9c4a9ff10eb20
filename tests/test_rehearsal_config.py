"""The rehearsal scale is derived from full: only the values its block lists differ."""

import pytest

from saidl.common.config import full_protocol, rehearsal_block, scale_block, scale_changes, with_rehearsal
from saidl.common.errors import ConfigError

TASK = {"scales": {"full": {"epochs": 120, "data_dir": "data/cifar10", "seeds": [0, 1, 2],
                            "eval": {"n": 5000, "steps": 250}, "verify_checksums": True}},
        "rehearsal": {"epochs": 1, "seeds": [0], "eval": {"n": 8}, "data_dir": "data/rehearsal/cifar10",
                      "verify_checksums": False}}


def test_rehearsal_is_full_with_its_changes_merged():
    block = scale_block(TASK, "t", "rehearsal")
    assert block == {"epochs": 1, "data_dir": "data/rehearsal/cifar10", "seeds": [0],
                     "eval": {"n": 8, "steps": 250}, "verify_checksums": False}
    assert TASK["scales"]["full"]["eval"] == {"n": 5000, "steps": 250}  # full itself untouched


def test_changes_list_every_difference_with_both_values():
    got = {c["key"]: (c["full"], c["value"]) for c in scale_changes(TASK, "t", "rehearsal")}
    assert got == {"t.epochs": ("120", "1"), "t.seeds": ("[0, 1, 2]", "[0]"), "t.eval.n": ("5000", "8"),
                   "t.data_dir": ("data/cifar10", "data/rehearsal/cifar10"),
                   "t.verify_checksums": ("true", "false")}
    assert scale_changes(TASK, "t", "full") == [] and scale_changes(TASK, "t", "demo") == []


def test_a_task_without_a_rehearsal_block_is_one_clear_error():
    with pytest.raises(ConfigError, match=r"t\.rehearsal is missing in tasks/t/config\.yaml"):
        rehearsal_block({"scales": {"full": {}}}, "t")
    assert with_rehearsal({"scales": {"full": {}}}, "t") == {"scales": {"full": {}}}
    assert with_rehearsal(TASK, "t")["scales"]["rehearsal"]["epochs"] == 1


def test_full_only_sections_render_at_full_and_rehearsal():
    assert full_protocol("full") and full_protocol("rehearsal")
    assert not full_protocol("demo") and not full_protocol("smoke")
