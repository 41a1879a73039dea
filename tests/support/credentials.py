"""The secrets the suite's first start uses: the admin and bootstrap passwords and the secret key
(registered with the leak check at the start of every run)."""

from __future__ import annotations

ADMIN_PASSWORD = "admin-Secret-123"
BOOTSTRAP_PASSWORD = "bootstrap-Secret-456"
SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
