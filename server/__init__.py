"""The web server: the FastAPI app (REST API, accounts, sessions) with the chat mounted, and running several."""
