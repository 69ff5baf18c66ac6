"""Outgoing webhooks: signed JSON POSTs of execution events, retried until delivered."""
