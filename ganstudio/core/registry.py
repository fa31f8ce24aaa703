"""Registries of pluggable pieces (models, losses, datasets, presets) by short name."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from ganstudio.core.errors import UserError

T = TypeVar("T")


class UnknownNameError(UserError):
    """A name that no registry entry has; the message lists the valid names."""


class Registry(Generic[T]):
    """Maps short names to objects; `get` of an unknown name lists the valid ones.

    >>> losses = Registry("loss")
    >>> @losses.register("hinge")
    ... def hinge(): ...
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        if obj is not None:
            self._add(name, obj)
            return obj

        def deco(o: T) -> T:
            self._add(name, o)
            return o

        return deco

    def _add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def items(self):
        return self._items.items()
