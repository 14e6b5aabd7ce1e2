"""The audit log: recording who did what (never a secret) and the admin actions that are audited."""
