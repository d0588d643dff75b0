"""Platform API: a FastAPI service backed by PostgreSQL, built to run on Kubernetes."""
