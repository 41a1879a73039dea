"""Writes the committed copy of the OpenAPI document (docs/compat/connectware/openapi.json):

.venv/bin/python -m admittance.http.compat.connectware.document_file > docs/compat/connectware/openapi.json
"""

from __future__ import annotations

import sys

from admittance.http.compat.connectware.openapi import encoded

if __name__ == "__main__":
    sys.stdout.buffer.write(encoded(indent=True))
