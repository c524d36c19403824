"""Live updates over the API Gateway WebSocket API: connections, topics and the broadcaster."""
