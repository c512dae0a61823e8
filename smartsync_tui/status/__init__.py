"""The engine's health and metrics endpoints (docs/monitoring.md): the only importer of prometheus_client."""
