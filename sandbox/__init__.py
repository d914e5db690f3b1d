"""Local data tier for pytest-apexready: `python -m sandbox up|down|status`.

PostgreSQL 15 (primary, streaming replica, PgBouncer), Redis 7 (primary,
replica, Sentinel) and a ClickHouse-compatible HTTP server, all on 127.0.0.1,
state under <repo>/.sandbox/.
"""
