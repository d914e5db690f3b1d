"""Hosts over SSH through pytest-testinfra, reading only (``sshd -T``, listening sockets).

``[targets.hosts]`` names each host by role (``bastion = "ssh://user@host:port"``); the key comes
from the ssh agent or ``identity_file``, the host key is checked against ``known_hosts`` (never
accepted blindly), and every connection has ``connect_timeout``. The first host that cannot be
reached is remembered: its items error at once with the same reason.
"""

from __future__ import annotations

import os
from typing import Any

from ..outcomes import TargetUnavailable
from .base import Target

__all__ = ["ROLES", "Hosts"]

#: the roles a profile may name, each an ssh:// URL
ROLES = ("bastion",)


class Hosts(Target):
    def __init__(self, name: str, settings: dict[str, Any]):
        super().__init__(name, settings)
        self.timeout = float(settings.get("connect_timeout", 5))
        self._hosts: dict[str, Any] = {}

    @property
    def where(self) -> str:
        return ", ".join(f"{r} {self.settings[r]}" for r in ROLES if r in self.settings) or "hosts (none named)"

    def _ssh_args(self) -> str:
        known = os.path.expanduser(self.settings.get("known_hosts", "~/.ssh/known_hosts"))
        return (f"-o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={known} "
                f"-o ConnectTimeout={self.timeout:g} -o LogLevel=ERROR")

    def _connect(self) -> Any:
        import testinfra

        return testinfra

    def _probe_read(self) -> None:
        for role in ROLES:
            if role in self.settings:
                self.run(role, "true")

    def host(self, role: str) -> Any:
        """The testinfra host of a role (connected on first use)."""
        if role not in self.settings:
            raise TargetUnavailable(self.name, self.where, f"the profile's [targets.hosts] names no {role!r}; "
                                    f"set {role} = \"ssh://user@host:port\"")
        if role not in self._hosts:
            kwargs: dict[str, Any] = {"ssh_extra_args": self._ssh_args()}
            if self.settings.get("identity_file"):
                kwargs["ssh_identity_file"] = os.path.expanduser(self.settings["identity_file"])
            self._hosts[role] = self.client().get_host(self.settings[role], **kwargs)
        return self._hosts[role]

    def run(self, role: str, command: str) -> str:
        """Run a read-only command on a host and return its stdout (a failed command is an error)."""
        host = self.host(role)
        try:
            result = host.run(command)
        except Exception as exc:  # testinfra's ssh backend raises on transport failures (ssh exit 255)
            text = str(exc)
            text = text.split("stderr=", 1)[-1].replace("\\r", "").replace("\\n", " ").strip(" '\")")
            self._failure = TargetUnavailable(self.name, self.where, f"ssh to {role} failed: {text[-300:]}")
            raise self._failure from None
        if result.rc == 255:  # ssh itself failed: unreachable, refused key, unknown host key
            self._failure = TargetUnavailable(self.name, self.where,
                                              f"ssh to {role} failed: {result.stderr.strip()[:300]}")
            raise self._failure
        if result.rc != 0:
            raise TargetUnavailable(self.name, self.where, f"{role}: `{command}` exited {result.rc}: "
                                    f"{result.stderr.strip()[:300]}")
        return str(result.stdout)

    def sshd_config(self, role: str) -> dict[str, str]:
        """sshd's effective configuration on a host (``sshd -T``; ``sshd_command`` overrides, e.g. with sudo -n)."""
        command = self.settings.get("sshd_command", "sshd -T")
        out: dict[str, str] = {}
        for line in self.run(role, command).splitlines():
            key, _, value = line.strip().partition(" ")
            if key:
                out.setdefault(key.lower(), value.strip())
        return out

    def listening(self, role: str) -> list[str]:
        return [str(s) for s in self.host(role).socket.get_listening_sockets()]
