"""The web server: the FastAPI app with the REST API, accounts and sessions, and the Gradio chat mounted in it."""
