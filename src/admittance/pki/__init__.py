"""The device PKI: the CA, the CSR policy, issuing, renewing and revoking certificates, the CRL."""
