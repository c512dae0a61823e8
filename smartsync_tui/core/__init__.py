"""The foundations every package may use: errors, text and redaction, atomic and protected files,
bounded reads, strict JSON, logs and the audit log, remedies. Nothing here imports ldap3, httpx
or textual."""
