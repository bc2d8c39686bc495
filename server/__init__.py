"""The web server: the chat and the REST API, and running several of them behind a load balancer."""
