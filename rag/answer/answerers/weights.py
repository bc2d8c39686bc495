"""The extractive answerer's learnt weights: written by ``evals/calibrate.py`` from the calibration splits.

One weight per ``rag.answer.answerers.features.FEATURE_NAMES`` entry (a logistic regression: the score of a
candidate sentence is the sigmoid of the weighted sum), the refusal threshold on that score, and the two
settings that decide when a further sentence is quoted. Chosen on ``evals/real/calibration.jsonl`` and
``evals/qa.jsonl`` only; the held-out halves never chose them. Do not edit by hand: run the script.
"""

from __future__ import annotations

__all__ = ["ANSWERABLE_WEIGHTS", "COVERAGE_MARGIN", "MIN_GAIN", "MIN_SCORE", "WEIGHTS"]

# Written by evals/calibrate.py --write.
WEIGHTS: tuple[float, ...] = (
    -1.0324,  # bias
    1.8418,  # cosine
    0.0244,  # passage_cosine
    2.8265,  # overlap
    0.0046,  # unit_overlap
    0.3288,  # rank
    1.8418,  # cosine_gap
    0.0244,  # passage_gap
    0.0046,  # overlap_gap
    0.5239,  # type_value_has_value
    0.2158,  # type_value_has_default
    0.3151,  # type_definition_defines
    0.8992,  # type_procedure_code
    0.9884,  # type_which_code
    0.1087,  # type_yesno_negation
    0.9992,  # qualifier_held
    -0.9992,  # qualifier_missing
    0.1127,  # opens_with_subject
    0.1683,  # negation_match
    0.3074,  # has_label
    -0.3222,  # is_code
    -0.1897,  # is_first_in_block
    -0.1666,  # is_meta
    -0.5075,  # short
    -0.4005,  # long
)
ANSWERABLE_WEIGHTS: tuple[float, ...] = (
    -0.5494,  # bias
    0.8913,  # best
    0.2434,  # second
    0.7201,  # best_coverage
    1.8152,  # passage_cosine
    -1.7968,  # missing
    -0.7443,  # best_lacks
    -0.6055,  # value_without_value
    1.5541,  # evidence
    -0.4696,  # qualifier_unstated
)
MIN_SCORE = 0.68
COVERAGE_MARGIN = 0.2
MIN_GAIN = 0.05
