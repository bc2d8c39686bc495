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
    -0.9997,  # bias
    1.8375,  # cosine
    -0.1277,  # passage_cosine
    2.6370,  # overlap
    0.0140,  # unit_overlap
    0.3915,  # rank
    1.8375,  # cosine_gap
    -0.1277,  # passage_gap
    0.0140,  # overlap_gap
    0.2330,  # type_value_has_value
    0.3808,  # type_value_has_default
    0.3413,  # type_definition_defines
    0.7327,  # type_procedure_code
    0.9196,  # type_which_code
    0.0138,  # type_yesno_negation
    0.9910,  # qualifier_held
    -0.9910,  # qualifier_missing
    0.2925,  # opens_with_subject
    0.3738,  # negation_match
    0.5913,  # in_named_entry
    0.3055,  # has_label
    -0.2589,  # is_code
    -0.1855,  # is_first_in_block
    -0.3333,  # is_meta
    -0.6602,  # short
    -0.2113,  # long
)
ANSWERABLE_WEIGHTS: tuple[float, ...] = (
    -0.8820,  # bias
    1.0725,  # best
    0.2069,  # second
    1.0977,  # best_coverage
    1.8618,  # passage_cosine
    -1.5818,  # missing
    -0.6958,  # best_lacks
    -0.9981,  # value_without_value
    1.5465,  # evidence
    -0.4736,  # qualifier_unstated
)
MIN_SCORE = 0.68
COVERAGE_MARGIN = 0.2
MIN_GAIN = 0.05
