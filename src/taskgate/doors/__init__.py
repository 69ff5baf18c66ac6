"""Doors: each translates one wire format to core calls and back."""
