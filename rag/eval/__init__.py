"""Eval: measuring a bot on known question/answer pairs, and writing the run as a report.

- ``metrics``: asking every question of a Q&A file and computing retrieval, answer, citation, refusal and
  latency metrics;
- ``report``: a run as Markdown and self-contained HTML, and the comparison of two runs.
"""
