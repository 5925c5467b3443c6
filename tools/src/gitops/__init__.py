"""Delivery tools for this repository: generate manifests from the SLOs, validate every
environment as strictly as an API server would, and promote images between environments."""
