"""taskgate as a client of a Qlik Sense site's Repository Service (QRS).

`settings` describes the sites, `client` speaks QRS (certificates, Xrfkey, X-Qlik-User,
transient errors), `status` maps the site's task states onto ours. The `qlik` action kind is in
`taskgate.engine.actions.qlik`; the sync of a site's tasks is in `taskgate.doors.qliksync`.
"""
