"""What every client connection of the drivers is: something a ``with`` block closes.

A cluster's API client, an EC2 client and the schedule database each hold sockets
(or a pool of them) that must be released when their user is done, however it is
done; subclasses say how in ``close``, and ``with connection:`` calls it on the way out.
"""

from __future__ import annotations

import abc
from typing import Self


class Connection(abc.ABC):
    """A connection that the ``with`` block using it closes on the way out."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release what the connection holds; it is not used again."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
