"""Domain services: take a session, ``flush``, never ``commit`` (the routes own the
transaction). Every query is scoped by the caller's workspace."""
