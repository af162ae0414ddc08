"""Fixtures for the driver tests: a real OpenSSH server on loopback (``tests.sshd``)."""

from __future__ import annotations

from tests.sshd import sshd as sshd
