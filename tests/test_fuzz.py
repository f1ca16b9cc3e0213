"""Fuzzing of the boundary's parsers and validators (tests/fuzz_targets.py): the Forest check,
the ``.npz`` loader, the UBJSON decoder with XGBoost's model layout, and the LightGBM text check
and parser. Each replays its corpus (tests/fuzz_corpus/<target>/, with the inputs that once found
a bug), then lets hypothesis mutate the seeds for a fixed budget (XPLAIN_FUZZ_EXAMPLES per target,
default 150; .ci/sanitize runs more of them under AddressSanitizer)."""

from __future__ import annotations

import os
import random

import fuzz_targets
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BUDGET = int(os.environ.get("XPLAIN_FUZZ_EXAMPLES", "150"))
TARGETS = sorted(fuzz_targets.TARGETS)


@pytest.mark.parametrize("target", TARGETS)
def test_corpus_is_handled(target):
    for data in fuzz_targets.seeds(target):
        fuzz_targets.run(target, data)


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_mutated_inputs_are_refused_or_explained(target):
    corpus = fuzz_targets.seeds(target)

    @settings(max_examples=BUDGET, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(seed=st.sampled_from(corpus), salt=st.integers(0, 2**32 - 1), raw=st.binary(max_size=64))
    def check(seed, salt, raw):
        fuzz_targets.run(target, fuzz_targets.mutate(seed, random.Random(salt)))
        fuzz_targets.run(target, raw)  # unstructured bytes too

    check()


def test_seed_models_are_valid():
    """The seeds are real models (a seed every mutation is refused from would test nothing)."""
    for target in ("forest_file", "ubjson", "lightgbm_text"):
        for data in fuzz_targets.seeds(target):
            fuzz_targets.TARGETS[target](data)  # raises on a refusal
