"""The Gradio web chat over a ``rag`` bot (``rag`` never imports this package)."""
