"""Persistence: models, the database handle, migrations."""
