"""One router module per area of the API; `api.app.create_app` includes them all."""
