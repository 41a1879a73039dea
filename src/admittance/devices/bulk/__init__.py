"""Bulk device registration from manifests (Cumulocity's CSV format): reading, checking, applying."""
