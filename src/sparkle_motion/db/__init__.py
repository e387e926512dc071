"""SQLite persistence: connection helpers (sqlite.py) and the store's operations (store.py)."""
