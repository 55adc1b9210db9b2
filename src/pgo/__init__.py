"""pgo: GitOps for podman-compose."""

__version__ = "0.1.0"
