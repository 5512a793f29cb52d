"""Code shared by the four brug services: settings, database, events, messaging, auth."""
