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
    -0.7241,  # bias
    5.4223,  # cosine
    -5.8818,  # passage_cosine
    2.7045,  # overlap
    0.8955,  # unit_overlap
    0.7948,  # rank
    0.0,  # cosine_gap
    0.0,  # passage_gap
    0.0,  # overlap_gap
    -0.0210,  # type_value_has_value
    1.0239,  # type_value_has_default
    -0.6894,  # type_definition_defines
    1.4111,  # type_procedure_code
    2.5118,  # type_which_code
    0.2747,  # type_yesno_negation
    0.0,  # qualifier_held
    0.0,  # qualifier_missing
    1.1622,  # has_label
    -1.2117,  # is_code
    0.4316,  # is_first_in_block
    -1.4861,  # is_meta
    -0.9262,  # short
    0.8264,  # long
)
ANSWERABLE_WEIGHTS: tuple[float, ...] = (
    0.1694,  # bias
    0.3639,  # best
    -0.4265,  # second
    1.0543,  # best_coverage
    1.9218,  # passage_cosine
    -1.8021,  # missing
    -0.4873,  # best_lacks
    -1.3438,  # value_without_value
    1.6748,  # evidence
    0.0,  # qualifier_unstated
)
MIN_SCORE = 0.71
COVERAGE_MARGIN = 0.3
MIN_GAIN = 0.05
