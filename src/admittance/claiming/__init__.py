"""nRF Cloud-compatible device claiming: attestation tokens, claimed devices, tags, provisioning."""
