"""The HTTP server: a FastAPI app serving the REST API, with the Gradio chat mounted in it."""
