"""Read-only registries of everything plugins provide: ``layers``, ``losses``, ``optimizers``
and ``backends``, each a mapping of name to class that can say which plugin provided a name.

The registries are built from the plugin host on first use and rebuilt whenever a plugin is
registered or removed. Every hook implementation is called on its own, so a bad plugin is
skipped with a warning naming it, and a name claimed twice keeps its first owner.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from nnplug import errors, plugins


@dataclass(frozen=True)
class Registration:
    """One registered component: its name, class and the plugin that provided it."""

    name: str
    cls: type
    plugin: plugins.PluginInfo


@dataclass(frozen=True)
class _Kind:
    hook: str
    noun: str
    error: type[errors.NnplugLookupError]


_KINDS = {
    "layers": _Kind("nnplug_layers", "layer", errors.UnknownLayerError),
    "losses": _Kind("nnplug_losses", "loss", errors.UnknownLossError),
    "optimizers": _Kind("nnplug_optimizers", "optimizer", errors.UnknownOptimizerError),
    "backends": _Kind("nnplug_backends", "backend", errors.UnknownBackendError),
}


_BASES: dict[str, type] = {}


def accepts(kind: str, base: type) -> None:
    """Declare ``base`` as the class every component of ``kind`` must subclass.

    Each base class declares itself where it is defined, so this module needs to import
    none of them and stays at the bottom of the package.
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown kind of component {kind!r}; expected one of {sorted(_KINDS)}")
    _BASES[kind] = base


_CHECKS: dict[str, list[Callable[[type, str, str], str | None]]] = {}


def checks(kind: str, check: Callable[[type, str, str], str | None]) -> None:
    """Run ``check(cls, name, plugin description)`` on every class of ``kind`` as it
    registers; a message it returns is reported as a plugin problem (the class is kept)."""
    if kind not in _KINDS:
        raise ValueError(f"unknown kind of component {kind!r}; expected one of {sorted(_KINDS)}")
    if check not in _CHECKS.setdefault(kind, []):
        _CHECKS[kind].append(check)


def _base_classes() -> dict[str, type]:
    missing = sorted(set(_KINDS) - set(_BASES))
    if missing:
        raise RuntimeError(f"no base class was declared for {', '.join(missing)}")
    return _BASES


_cache: tuple[plugins.PluginHost, int, dict[str, dict[str, Registration]]] | None = None


def _collected() -> dict[str, dict[str, Registration]]:
    global _cache
    host = plugins.host()
    if _cache is None or _cache[0] is not host or _cache[1] != host.generation:
        _cache = (host, host.generation, _collect(host))
    return _cache[2]


def _collect(host: plugins.PluginHost) -> dict[str, dict[str, Registration]]:
    bases = _base_classes()
    collected: dict[str, dict[str, Registration]] = {}
    for kind_name, kind in _KINDS.items():
        entries: dict[str, Registration] = {}
        impls = getattr(host.manager.hook, kind.hook).get_hookimpls()
        # Built-ins first, then by plugin name: pluggy's own order follows tryfirst/trylast.
        for impl in sorted(impls, key=lambda impl: host.precedence(impl.plugin_name)):
            info = host.info.get(impl.plugin_name) or plugins.PluginInfo(
                impl.plugin_name, None, None, None
            )
            for registration in _registrations(
                host, impl.function, kind_name, bases[kind_name], info
            ):
                _add(host, entries, registration, kind)
        collected[kind_name] = entries
    return collected


def _registrations(
    host: plugins.PluginHost,
    hook: object,
    kind_name: str,
    base: type,
    info: plugins.PluginInfo,
) -> Iterator[Registration]:
    kind = _KINDS[kind_name]
    where = f"{info.describe()}: {kind.hook}()"
    try:
        result = hook()  # type: ignore[operator]
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # a broken plugin, even one calling sys.exit
        host.warn(f"{where} raised {error!r}; its {kind.noun}s were skipped")
        return
    if not isinstance(result, Mapping):
        host.warn(
            f"{where} must return a mapping of names to {kind.noun} classes, "
            f"got {type(result).__name__}; skipped"
        )
        return
    for name, cls in result.items():
        if not isinstance(name, str) or not name:
            host.warn(f"{where} registered {cls!r} under {name!r}: names must be non-empty strings")
        elif not (isinstance(cls, type) and issubclass(cls, base)):
            host.warn(
                f"{where} registered {name!r} as {cls!r}, which is not a subclass of "
                f"{base.__module__}.{base.__qualname__}; skipped"
            )
        else:
            for check in _CHECKS.get(kind_name, ()):
                problem = check(cls, name, info.describe())
                if problem is not None:
                    host.warn(f"{where}: {problem}")
            yield Registration(name, cls, info)


def _add(
    host: plugins.PluginHost,
    entries: dict[str, Registration],
    registration: Registration,
    kind: _Kind,
) -> None:
    existing = entries.get(registration.name)
    if existing is None:
        entries[registration.name] = registration
    elif existing.cls is not registration.cls:
        host.warn(
            f"{registration.plugin.describe()} tried to register the {kind.noun} "
            f"{registration.name!r}, which {existing.plugin.describe()} already provides; "
            f"keeping {existing.plugin.name!r}'s (built-ins first, then plugins by name)"
        )


class Registry(Mapping[str, type]):
    """A read-only mapping of name to class for one kind of component."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._spec = _KINDS[kind]

    def _entries(self) -> dict[str, Registration]:
        return _collected()[self.kind]

    def registration(self, name: str) -> Registration:
        """Return the registration of ``name``; unknown names raise, listing the known ones."""
        entries = self._entries()
        if name in entries:
            return entries[name]
        known = sorted(entries)
        close = difflib.get_close_matches(str(name), known, n=3)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise self._spec.error(
            f"no {self._spec.noun} named {name!r}.{hint} "
            f"Available: {', '.join(known) if known else 'none'}."
        )

    def provider(self, name: str) -> plugins.PluginInfo:
        """Return the plugin that registered ``name``."""
        return self.registration(name).plugin

    def name_of(self, cls: type) -> str | None:
        """Return the name ``cls`` is registered under (the first one), or None."""
        return next((n for n, reg in self._entries().items() if reg.cls is cls), None)

    def __getitem__(self, name: str) -> type:
        return self.registration(name).cls

    def __contains__(self, name: object) -> bool:
        return name in self._entries()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries()))

    def __len__(self) -> int:
        return len(self._entries())

    def __repr__(self) -> str:
        return f"<Registry {self.kind}: {', '.join(self)}>"


layers = Registry("layers")
losses = Registry("losses")
optimizers = Registry("optimizers")
backends = Registry("backends")


def problems() -> list[str]:
    """Return every plugin problem seen so far (after loading the registries)."""
    _collected()
    return list(plugins.host().problems)
