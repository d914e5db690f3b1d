"""Redis and Sentinel through redis-py, read commands only."""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..outcomes import TargetUnavailable
from .base import Target

#: the only commands a check may send; anything else is a bug in the check
READ_COMMANDS = frozenset({
    "PING", "INFO", "CONFIG GET", "ROLE", "DBSIZE", "SCAN", "TTL", "PTTL", "TYPE", "EXISTS",
    "MEMORY USAGE", "SLOWLOG GET", "LATENCY LATEST", "CLIENT LIST", "ACL WHOAMI",
    "SENTINEL MASTER", "SENTINEL MASTERS", "SENTINEL REPLICAS", "SENTINEL SENTINELS",
    "SENTINEL GET-MASTER-ADDR-BY-NAME", "SENTINEL CKQUORUM",
})


class Redis(Target):
    @property
    def where(self) -> str:
        s = self.settings
        return f"{self.name} {s.get('host', '?')}:{s.get('port', '?')}"

    def _connect(self) -> Any:
        s = self.settings
        # host and port as the profile gives them (redis-py's own defaults otherwise: no address of ours)
        address = {k: s[k] for k in ("host", "port") if k in s}
        client = redis.Redis(
            **address, username=s.get("username"),
            password=s["password"].reveal() if "password" in s else None,
            socket_connect_timeout=self.timeout, socket_timeout=self.timeout, ssl=s.get("ssl", False),
            decode_responses=True, health_check_interval=0,
            # redis-py >= 6 retries 3 times by default: an unreachable or silent target
            # would cost four timeouts (and four connections) instead of one
            retry=Retry(NoBackoff(), 0),
        )
        client.ping()  # connects and authenticates (AUTH/HELLO go first on the connection)
        return client

    def _probe_read(self) -> None:
        """Nothing more: connecting sent PING, the cheap read, after authenticating."""

    def call(self, *args: Any) -> Any:
        name = str(args[0]).upper()
        two = f"{name} {str(args[1]).upper()}" if len(args) > 1 else name
        if name not in READ_COMMANDS and two not in READ_COMMANDS:
            raise PermissionError(f"apexready sends read commands only; {name} is not one of them")
        client = self.client()
        self._trace("redis", *args)
        try:
            return client.execute_command(*args)
        except redis.exceptions.NoPermissionError as exc:
            # the ACL refuses this command, not the target: only the item that sent it errors (not remembered)
            raise TargetUnavailable(self.name, self.where, f"permission denied (NOPERM) for {two}: "
                                    f"{' '.join(str(exc).split())[:200]}; allow it in the checker's ACL "
                                    f"(+{two.lower().replace(' ', '|')})") from None
        except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError) as exc:
            raise self.unavailable(exc) from None

    def info(self, section: str | None = None) -> dict[str, Any]:
        info: dict[str, Any] = self.call("INFO", section) if section else self.call("INFO")
        return info

    def config_get(self, name: str) -> str | None:
        result = self.call("CONFIG", "GET", name)
        if isinstance(result, dict):
            return result.get(name)
        pairs = dict(zip(result[::2], result[1::2], strict=False))
        return pairs.get(name)

    def scan_keys(self, pattern: str, limit: int = 1000, max_calls: int = 500) -> list[str]:
        """Up to ``limit`` keys matching ``pattern``; at most ``max_calls`` SCAN round trips
        (200 keys each), so a huge keyspace is sampled, not walked to the end."""
        keys: list[str] = []
        cursor = "0"
        for _ in range(max_calls):
            cursor, batch = self.call("SCAN", cursor, "MATCH", pattern, "COUNT", 200)
            keys.extend(batch)
            if str(cursor) == "0" or len(keys) >= limit:
                break
        return list(dict.fromkeys(keys))[:limit]   # SCAN may return a key twice


class Sentinel(Redis):
    def master(self, name: str | None = None) -> dict[str, Any]:
        """SENTINEL MASTER ``name`` (the checks pass master_name, else expectations.redis_sentinel_master)."""
        raw = self.call("SENTINEL", "MASTER", name or self.settings.get("master_name", ""))
        if isinstance(raw, dict):
            return raw
        return dict(zip(raw[::2], raw[1::2], strict=False))
