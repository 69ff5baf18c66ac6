"""The `qlik` action and sync: taskgate as a client of a Qlik Sense site's Repository Service.

`client` speaks QRS (certificates, Xrfkey, X-Qlik-User, transient errors), `action` starts a
remote task and follows it to its end, `sync` imports a site's reload tasks as local tasks.
"""
