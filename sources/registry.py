"""The one registry of vendors: ``pipelines/`` reaches every vendor through it, never by name.

Each ``sources/<vendor>/vendor.py`` defines a :class:`sources._vendor.Vendor` descriptor; adding a vendor is
its own folder plus one line below. Tests may :func:`register` a vendor of their own (and
:func:`unregister` it).
"""

from __future__ import annotations

from sources._push import PushTarget
from sources._vendor import Vendor
from sources.aimsio.vendor import VENDOR as AIMSIO
from sources.aiwyn.vendor import VENDOR as AIWYN
from sources.iinsight.vendor import VENDOR as IINSIGHT

_VENDORS: dict[str, Vendor] = {}


def register(vendor: Vendor) -> Vendor:
    """Add ``vendor`` (by its ``name``, replacing one of the same name); returns it."""
    _VENDORS[vendor.name] = vendor
    return vendor


def unregister(name: str) -> None:
    """Remove the vendor ``name`` (no error when absent)."""
    _VENDORS.pop(name, None)


def names() -> list[str]:
    """The registered vendors' names, in registration order."""
    return list(_VENDORS)


def vendors(selected: list[str] | None = None) -> list[Vendor]:
    """The registered vendors, or those named in ``selected`` (in that order).

    Raises:
        ValueError: a name that is not registered (the message lists the known ones).
    """
    return [get(name) for name in selected] if selected else list(_VENDORS.values())


def get(name: str) -> Vendor:
    """The vendor ``name``.

    Raises:
        ValueError: no such vendor (the message lists the known ones).
    """
    try:
        return _VENDORS[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}: use one of {', '.join(_VENDORS)}") from None


def push_targets() -> dict[str, tuple[Vendor, PushTarget]]:
    """Every push target of the registered vendors by its name (``aiwyn-records``), with its vendor."""
    return {t.name: (v, t) for v in _VENDORS.values() for t in v.push_targets}


def push_target(name: str) -> tuple[Vendor, PushTarget]:
    """The push target ``name`` and its vendor.

    Raises:
        ValueError: no such target (the message lists the known ones).
    """
    targets = push_targets()
    if name not in targets:
        raise ValueError(f"unknown push target {name!r}: use one of {', '.join(targets)}")
    return targets[name]


for _vendor in (AIWYN, AIMSIO, IINSIGHT):
    register(_vendor)
