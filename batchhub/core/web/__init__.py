"""The web edge shared by every app: client address and request context middleware, outages answered 503, logging that
redacts secrets, and how user text is quoted in messages."""
