"""The HTTP service: FastAPI app, routes per resource, web pages."""
