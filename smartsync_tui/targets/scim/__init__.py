"""SCIM 2.0 (RFC 7643/7644) service providers as a sync target (docs/scim.md)."""
