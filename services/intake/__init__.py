"""intake: registrations and the only copy of identities."""
