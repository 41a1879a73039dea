"""Connectware's client registry: devices register themselves while an operator holds the window open,
and an operator grants each request, creating the user and issuing its certificate."""
