"""The operator REST API (`/api/v1`), served by FastAPI."""
