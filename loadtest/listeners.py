"""A typed list of listeners: what a module offers when others need to hear of something that happens.

Like Locust's ``EventHook`` (several listeners, added and removed independently, called in order), but
typed by the listener's signature, so a listener with the wrong arguments is a type error, not a
runtime surprise. Never a single callback slot that the last one to assign wins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, ParamSpec

P = ParamSpec("P")


class Listeners(Generic[P]):
    """Listeners of one event, called in the order they were added."""

    __slots__ = ("_listeners",)

    def __init__(self) -> None:
        self._listeners: list[Callable[P, object]] = []

    def add(self, listener: Callable[P, object]) -> Callable[P, object]:
        """Add ``listener`` (returned, so this works as a decorator)."""
        self._listeners.append(listener)
        return listener

    def remove(self, listener: Callable[P, object]) -> None:
        self._listeners.remove(listener)

    def fire(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for listener in list(self._listeners):
            listener(*args, **kwargs)

    def __len__(self) -> int:
        return len(self._listeners)
