"""The api function: HTTP API (FastAPI behind Mangum) and WebSocket routes."""
