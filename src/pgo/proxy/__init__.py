"""Routing through Caddy: each routed service's `urls` become sites in a Caddyfile snippet
that pgod writes and Caddy imports.

`urls` (the syntax of a `urls` entry), `routes` (which services are routed, the route
table) and `caddyfile` (the snippet's text) are pure; `caddy` writes the snippet and asks
Caddy to load it.
"""
