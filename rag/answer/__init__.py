"""Answer: from a question and its passages to a cited ``Answer``.

- ``types``: the ``Answer`` and its numbered ``Citation``s, and how they print;
- ``answerers/``: the extractive default and the LLM backends, behind one small protocol;
- ``grounding`` and ``verify``: each sentence of an LLM's answer checked against the passages it cites;
- ``followups``: spotting a follow-up question and rewriting it to stand alone;
- ``delimiting``: passages as a model is shown them, in blocks a document cannot close;
- ``wire``: an answer in each wire format (the ask JSON, OpenAI completions and chunks, MCP results).
"""
