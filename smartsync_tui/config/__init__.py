"""The home (where files live), appsettings.json, the secret store and input validation."""
