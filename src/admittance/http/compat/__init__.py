"""Vendor dialects at the edge: each translates its wire format to our services and back."""
