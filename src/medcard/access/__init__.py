"""Who may see what: accounts, sessions, OAuth2/SMART, the access policy and the audit log."""
