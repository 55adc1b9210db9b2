"""Notifications: what pgod tells the `notify` URLs (Apprise) about a service.

`messages` decides, from each record change (before, event, after), whether it deserves a
message and writes it (pure); `urls` checks the config's URLs; `sender` sends in a worker
thread behind a bounded queue, so a slow or unreachable endpoint never holds up a deploy.
"""
