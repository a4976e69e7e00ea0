"""Regression guard: masks come from the AES-256-CTR keystream, not from Flower's
``pseudo_rand_gen`` (which XOR-folds the seed to 32 bits, so seeds collide and a mask
can be brute-forced, and never draws the top value of its range)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
from flwr.common.secure_aggregation.secaggplus_utils import pseudo_rand_gen
from support.secagg_rounds import params_for

import fedgov.secagg
from fedgov.secagg._masks import self_mask
from fedgov.secagg._primitives import prg

WORD = b"\x01\x02\x03\x04"
SEED_A = WORD + bytes(28)  # 32 bytes, differing only in where the word sits:
SEED_B = bytes(4) + WORD + bytes(24)  # flwr XOR-folds both to the same 32-bit seed


def test_flwr_folds_these_seeds_together() -> None:
    """Control: the two seeds are exactly the kind flwr cannot tell apart."""
    a = pseudo_rand_gen(SEED_A, 2**32, [(64,)])[0]
    b = pseudo_rand_gen(SEED_B, 2**32, [(64,)])[0]
    assert SEED_A != SEED_B and np.array_equal(a, b)


def test_our_masks_differ_for_seeds_flwr_folds_together() -> None:
    assert not np.array_equal(prg(SEED_A, 64), prg(SEED_B, 64))
    params = params_for(3, 2, 64)
    assert not np.array_equal(self_mask(params, SEED_A, "S01"), self_mask(params, SEED_B, "S01"))
    # ...and differ from what flwr would have produced
    assert not np.array_equal(prg(SEED_A, 64) % 2**32, pseudo_rand_gen(SEED_A, 2**32, [(64,)])[0])


def test_masks_reach_the_whole_of_z_2_64() -> None:
    draws = prg(bytes(range(32)), 200_000)
    assert draws.dtype == np.uint64
    assert (draws % 4 == 3).any()  # flwr's randint(0, range - 1) never draws the top value
    top = (draws >> np.uint64(63)).mean()
    assert 0.49 < top < 0.51  # the high bit is used, about half the time
    assert np.array_equal(prg(bytes(range(32)), 10), draws[:10])  # a deterministic stream


def test_the_package_does_not_import_pseudo_rand_gen() -> None:
    for path in Path(fedgov.secagg.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "pseudo_rand_gen" not in {a.name for a in node.names}, path
            if isinstance(node, ast.Name | ast.Attribute):
                assert getattr(node, "id", getattr(node, "attr", "")) != "pseudo_rand_gen", path
