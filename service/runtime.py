"""The running service's state: settings, the current snapshot and the recorder.

A ``Snapshot`` (lexicons per lexicon-set combination + tenant registry + compiled policy
tables) is immutable. ``Runtime.reload()`` builds a new one off the event loop, then swaps the
single reference; a request keeps the snapshot (or ``Screen``) it took at its start, so
in-flight requests and streams finish on the version they began with. A failed reload
raises and leaves the previous snapshot in service.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.config import Settings
from service.tenants import DEFAULT_TENANT_ID, PolicyTable, Tenant, TenantRegistry

if TYPE_CHECKING:
    from lexicons import Lexicon
    from lexicons.history import ManifestStore

log = logging.getLogger("aigc_gateway.runtime")

LexiconKey = tuple[str, ...]


def _parent_chains(lexicon: Lexicon) -> dict[str, tuple[str, ...]]:
    chains: dict[str, tuple[str, ...]] = {}
    taxonomy = lexicon.taxonomy
    for category in taxonomy:
        chain: list[str] = []
        parent = getattr(category, "parent", None)
        while parent and parent not in chain and len(chain) < 16:
            chain.append(parent)
            up = taxonomy.get(parent)
            parent = getattr(up, "parent", None) if up is not None else None
        chains[category.id] = tuple(chain)
    return chains


@dataclass
class Snapshot:
    """One consistent version of lexicons, tenants and policies; never mutated once built."""

    settings: Settings
    lexicons: dict[LexiconKey, Lexicon]
    tenants: TenantRegistry
    loaded_at: float = field(default_factory=time.time)
    _tables: dict[tuple[str, str, str], PolicyTable] = field(default_factory=dict, repr=False)
    _parents: dict[LexiconKey, dict[str, tuple[str, ...]]] = field(default_factory=dict, repr=False)

    @property
    def lexicon(self) -> Lexicon:
        """The default lexicon (the ``--lexicons`` set)."""
        return self.lexicons[("default",)]

    @property
    def version(self) -> str:
        return self.lexicon.version

    def lexicon_for(self, tenant: Tenant) -> Lexicon:
        return self.lexicons[tenant.lexicon_sets]

    def policy_table(self, tenant: Tenant, direction: str, profile: str) -> PolicyTable:
        """The compiled policy of ``tenant`` for one direction and (effective) profile."""
        key = (tenant.id, direction, profile)
        table = self._tables.get(key)
        if table is None:
            sets = tenant.lexicon_sets
            parents = self._parents.get(sets)
            if parents is None:
                parents = self._parents[sets] = _parent_chains(self.lexicons[sets])
            s = self.settings
            table = PolicyTable(
                rules=tenant.policy.rules(direction),
                base=s.policy.rules(direction),
                floor=s.mandatory.rules(direction),
                profile=profile,
                parents=parents,
            )
            self._tables[key] = table
        return table


def _dirs_for(settings: Settings, sets: LexiconKey) -> list[Path] | None:
    dirs: list[Path] = []
    for name in sets:
        if name == "default":
            dirs.extend(settings.lexicons or [_bundled_dir()])
        else:
            dirs.extend(settings.lexicon_sets[name])
    if sets == ("default",) and not settings.lexicons:
        return None  # the library's own bundled default
    return dirs


def _bundled_dir() -> Path:
    import lexicons

    return Path(lexicons.__file__).parent / "data"


def manifest_store(settings: Settings) -> ManifestStore:
    """The store of lexicon version manifests (``lexicons.history``): every version this
    service has loaded, so a record's ``lexicon_version`` resolves to its terms."""
    from lexicons.history import ManifestStore

    return ManifestStore(settings.data_dir / "lexicon-versions")


def _record_manifest(settings: Settings, lexicon: Lexicon, dirs: list[Path] | None) -> None:
    try:
        manifest_store(settings).record(lexicon, dirs, settings.pinyin_categories)
    except Exception as exc:  # history must never stop a lexicon from being served
        log.warning("cannot record lexicon manifest %s: %s", lexicon.version, exc)


def build_snapshot(settings: Settings) -> Snapshot:
    """Load every lexicon combination the tenants use (through the compiled cache) and tenants.

    Blocking (compiles lexicons); call it off the event loop. Raises ``LexiconError`` or
    ``ValueError`` when anything is wrong. Each lexicon version loaded for the first time gets
    its manifest in ``<data_dir>/lexicon-versions`` (``manifest_store``).
    """
    from lexicons import load_lexicon

    default = Tenant(
        id=DEFAULT_TENANT_ID,
        name="default",
        profile=settings.profile,
    )
    registry = TenantRegistry(settings.tenants, default)
    keys: list[LexiconKey] = [("default",)]
    keys += [t.lexicon_sets for t in settings.tenants if t.lexicon_sets not in keys]
    cache_dir = settings.cache_dir
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("lexicon cache dir %s unusable (%s); compiling without cache", cache_dir, exc)
        cache_dir = None  # type: ignore[assignment]
    lexicons: dict[LexiconKey, Lexicon] = {}
    for key in keys:
        dirs = _dirs_for(settings, key)
        lexicons[key] = load_lexicon(
            dirs,
            cache_dir=cache_dir,
            pinyin_categories=tuple(settings.pinyin_categories),
        )
        _record_manifest(settings, lexicons[key], dirs)
    return Snapshot(settings=settings, lexicons=lexicons, tenants=registry)


def warm_up() -> None:
    """Load the word-boundary index of jieba's dictionary now, every group parsed (~0.2 s;
    the index itself is read from the lexicon cache in a few ms), rather than in the first
    requests with a ``match=word`` or noisy hit."""
    try:
        from lexicons import wordfreq
    except ImportError:
        return
    wordfreq.index().parse_all()


@dataclass(frozen=True, slots=True)
class ReloadResult:
    version: str
    previous_version: str
    changed: bool
    tenants: int
    seconds: float


class Runtime:
    """What the app holds on ``app.state.runtime`` for its lifetime."""

    def __init__(
        self,
        settings: Settings,
        snapshot: Snapshot,
        *,
        recorder: Any,
        upstream_url: str | None = None,
    ) -> None:
        self.settings = settings
        self.snapshot = snapshot
        self.recorder = recorder
        self.upstream_url = upstream_url if upstream_url is not None else settings.upstream
        self.started_at = time.time()
        self.reload_listeners: list[Callable[[Snapshot], None]] = []
        self.metrics: Any = None  # service.metrics.Metrics, set by the app
        self.classifier: Any = None  # service.classifier.ClassifierStage, set by the app
        self.triggers: Any = None  # service.reloading.Triggers, set by the app
        self._reload_lock = asyncio.Lock()

    @property
    def lexicon(self) -> Lexicon:
        """The current default lexicon."""
        return self.snapshot.lexicon

    @property
    def tenants(self) -> TenantRegistry:
        return self.snapshot.tenants

    async def reload(self, settings: Settings | None = None) -> ReloadResult:
        """Re-read config, lexicons and tenants; swap atomically. Raises and keeps the old one
        on failure. Host, port, workers and upstream changes need a restart."""
        async with self._reload_lock:
            began = time.perf_counter()
            previous = self.snapshot
            if settings is None:
                settings = await asyncio.to_thread(self.settings.reloaded)
            snapshot = await asyncio.to_thread(build_snapshot, settings)
            self.snapshot = snapshot  # the swap: one reference assignment
            self.settings = settings
            for listener in self.reload_listeners:
                try:
                    listener(snapshot)
                except Exception:  # a listener (metrics) must not undo a good reload
                    log.exception("reload listener failed")
            result = ReloadResult(
                version=snapshot.version,
                previous_version=previous.version,
                changed=snapshot.version != previous.version
                or snapshot.settings.tenants != previous.settings.tenants,
                tenants=len(snapshot.tenants.tenants),
                seconds=round(time.perf_counter() - began, 4),
            )
            log.info(
                "reloaded",
                extra={"version": result.version, "previous_version": result.previous_version},
            )
            return result

    def ready(self) -> tuple[bool, dict[str, bool]]:
        checks = {"lexicons": bool(self.snapshot.lexicons)}
        try:
            checks["records"] = bool(self.recorder.ready())
        except Exception:
            checks["records"] = False
        return all(checks.values()), checks
