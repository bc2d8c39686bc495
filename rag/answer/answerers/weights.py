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
    -1.0961,  # bias
    1.8828,  # cosine
    0.0243,  # passage_cosine
    2.8722,  # overlap
    -0.0001,  # unit_overlap
    0.3449,  # rank
    1.8828,  # cosine_gap
    0.0243,  # passage_gap
    -0.0001,  # overlap_gap
    0.5327,  # type_value_has_value
    0.6141,  # type_value_has_default
    0.3347,  # type_definition_defines
    0.8885,  # type_procedure_code
    0.9690,  # type_which_code
    0.1221,  # type_yesno_negation
    0.2869,  # qualifier_held
    -0.2869,  # qualifier_missing
    0.1092,  # opens_with_subject
    0.1757,  # negation_match
    0.2994,  # has_label
    -0.2832,  # is_code
    -0.1931,  # is_first_in_block
    -0.1864,  # is_meta
    -0.4403,  # short
    -0.4218,  # long
)
ANSWERABLE_WEIGHTS: tuple[float, ...] = (
    -0.4239,  # bias
    0.8540,  # best
    0.2065,  # second
    0.6188,  # best_coverage
    1.8130,  # passage_cosine
    -1.8430,  # missing
    -0.7684,  # best_lacks
    -0.6268,  # value_without_value
    1.5865,  # evidence
    -0.8531,  # qualifier_unstated
)
MIN_SCORE = 0.74
COVERAGE_MARGIN = 0.2
MIN_GAIN = 0.05
