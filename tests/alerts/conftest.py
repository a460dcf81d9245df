"""A real SMTP server (aiosmtpd) on 127.0.0.1 that collects the messages it accepts."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    """A TCP port nobody listens on right now (aiosmtpd's Controller cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class CollectingHandler:
    """Accepts every message (or rejects all with `reject_with`) and keeps what it accepted."""

    reject_with: str | None = None
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes_to: list[list[str]] = field(default_factory=list)
    authenticated: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reject_with is not None:
            return self.reject_with
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.envelopes_to.append(list(envelope.rcpt_tos))
        self.authenticated.append(bool(session.authenticated))
        return "250 Message accepted for delivery"


@dataclass
class RunningSmtp:
    controller: Controller
    handler: CollectingHandler
    port: int
    running: bool = True

    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.running = False


@pytest.fixture
def smtp_server_factory() -> Iterator[Callable[..., RunningSmtp]]:
    """Start aiosmtpd servers on demand: start(reject_with=None, **Controller kwargs); all stop at teardown."""
    started: list[RunningSmtp] = []

    def start(reject_with: str | None = None, **controller_kwargs: Any) -> RunningSmtp:
        handler = CollectingHandler(reject_with=reject_with)
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **controller_kwargs)
        controller.start()
        server = RunningSmtp(controller=controller, handler=handler, port=port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def smtp_server(smtp_server_factory: Callable[..., RunningSmtp]) -> RunningSmtp:
    """One plain (no TLS, no auth) SMTP server."""
    return smtp_server_factory()
