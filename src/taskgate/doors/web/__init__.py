"""The web dashboard: server-rendered pages for people, a door like the others (it calls the
core and owns no rule), and the offline API docs (/docs, /redoc)."""
