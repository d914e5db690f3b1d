"""Redis and Sentinel through redis-py, read commands only."""

from __future__ import annotations

from typing import Any

from . import Target

#: the only commands a check may send; anything else is a bug in the check
READ_COMMANDS = frozenset({
    "PING", "INFO", "CONFIG GET", "ROLE", "DBSIZE", "SCAN", "TTL", "PTTL", "TYPE", "EXISTS",
    "MEMORY USAGE", "SLOWLOG GET", "LATENCY LATEST", "CLIENT LIST", "ACL WHOAMI",
    "SENTINEL MASTER", "SENTINEL MASTERS", "SENTINEL REPLICAS", "SENTINEL SENTINELS",
    "SENTINEL GET-MASTER-ADDR-BY-NAME", "SENTINEL CKQUORUM",
})


class Redis(Target):
    def _connect(self) -> Any:
        import redis

        s = self.settings
        client = redis.Redis(
            host=s.get("host", "127.0.0.1"), port=s.get("port", 6379), username=s.get("username"),
            password=s["password"].reveal() if "password" in s else None,
            socket_connect_timeout=self.timeout, socket_timeout=self.timeout, ssl=s.get("ssl", False),
            decode_responses=True, retry_on_timeout=False, health_check_interval=0,
        )
        client.ping()
        return client

    def call(self, *args: Any) -> Any:
        import redis

        name = str(args[0]).upper()
        two = f"{name} {str(args[1]).upper()}" if len(args) > 1 else name
        if name not in READ_COMMANDS and two not in READ_COMMANDS:
            raise PermissionError(f"apexready sends read commands only; {name} is not one of them")
        client = self.client()
        try:
            return client.execute_command(*args)
        except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError,
                redis.exceptions.NoPermissionError) as exc:
            raise self.unavailable(exc) from None

    def info(self, section: str | None = None) -> dict[str, Any]:
        return self.call("INFO", section) if section else self.call("INFO")

    def config_get(self, name: str) -> str | None:
        result = self.call("CONFIG", "GET", name)
        if isinstance(result, dict):
            return result.get(name)
        pairs = dict(zip(result[::2], result[1::2]))
        return pairs.get(name)

    def scan_keys(self, pattern: str, limit: int = 1000) -> list[str]:
        keys: list[str] = []
        cursor = "0"
        while True:
            cursor, batch = self.call("SCAN", cursor, "MATCH", pattern, "COUNT", 200)
            keys.extend(batch)
            if str(cursor) == "0" or len(keys) >= limit:
                return keys[:limit]


class Sentinel(Redis):
    def master(self) -> dict[str, Any]:
        raw = self.call("SENTINEL", "MASTER", self.settings.get("master_name", "mymaster"))
        if isinstance(raw, dict):
            return raw
        return dict(zip(raw[::2], raw[1::2]))
