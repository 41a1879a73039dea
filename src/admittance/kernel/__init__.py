"""The kernel: errors, clock, secrets, password hashing and the authenticated principal."""
