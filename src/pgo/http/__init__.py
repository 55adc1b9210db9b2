"""pgod's HTTP side, one listener (`-m ADDR`): Prometheus metrics at /metrics, and what
later features add on purpose (the status page, webhooks). Each part registers its routes
on the `Routes` the daemon hands it before the listener starts."""
