"""What the local stack keeps in memory, and for how long.

moto holds everything it is given for the life of the process, and a good deal it is never given.
One `bulk-import serve` importing 100,000 users grew to 2.6 GB (docs/benchmarks.md). The state a
test or a user can observe through an AWS API is kept as AWS keeps it; what only moto's internals
held is not (docs/benchmarks.md, "What the local stack keeps"):

- **moto's instance tracking is off.** moto appends every object of every model class it ever
  creates (each version of each DynamoDB item, each DynamoDB stream record, each S3 object with
  its ACL and grants, ...) to a list on the class, which only its reset API and
  `/moto-api/data.json` read: nothing was ever freed, overwritten or deleted items and delivered
  stream records included (about 5 KB per imported user). The backends still hold every item,
  object and execution AWS would hold.
- **moto's EC2 is not loaded.** The Step Functions interpreter imports `moto.batch` for its AWS
  Batch task type, and `moto.batch` loads moto's EC2, which reads the EC2 instance-type catalogue
  of every region and builds region lists from botocore's EC2 model at import time (about 120 MB).
  The template has no Batch task: here `moto.batch` is a bare package, so the interpreter's import
  of `moto.batch.utils` works and no Batch (or EC2) backend is ever built.
- **One botocore data loader** for every botocore session of the process: boto3's default session
  and moto's own session (its region lists) each loaded `endpoints.json` and the same service
  models (about 15 MB). Loaded models are read-only; botocore shares a loader the same way when
  one is passed to a session.
- **DynamoDB items are kept packed**: moto holds an item as a tree of `DynamoType` objects, about
  4.5 KB for one imported user (16 attribute values, most of them in its `data` map). Here an item
  written by PutItem, BatchWriteItem or a transaction's Put is kept as its compact JSON (the
  attribute values as the request sent them), deflated against the first item with the same
  attribute names (an imported user: ~35 bytes instead of ~420), until moto's code touches its
  attributes (a condition, an update, a filter, an index's key): then it is unpacked once, for good, and
  behaves as moto's own. Reading it whole (GetItem, BatchGetItem, Query results, stream records,
  ReturnValues) answers from the packed form without unpacking it. Items holding binary values
  (moto turns their nested values into bytes) and items built from moto's own objects are never
  packed. An index Query looks only at the items that have the index's key attributes
  (moto_queries.py), so it unpacks only the items in the index, as a GSI holds only those.
  A packed item keeps no `__dict__` of its own (about 100 bytes), and its sort key, when it is a
  string of up to 64 characters, is one string for every item with that key (`MESSAGE`).
- **A partition of one item is kept without a dict of its own**: moto keeps a table's items in a
  dict per partition key (about 230 bytes), and most partitions here hold one item (an imported
  user, a message). A partition holds its first item in two slots and turns into a dict at its
  second.
- **S3 object bodies over 64 KiB are kept in temporary files**, as moto's own setting
  (`MOTO_S3_DEFAULT_KEY_BUFFER_SIZE`) allows, not in memory below 5 MB as moto's default: an import's
  upload and staged records (about 270 bytes a record) are storage on S3, not memory of any
  function. Each such body holds a file descriptor while it exists, so the process's soft limit of
  open files is raised to its hard limit.
- **At most two malloc arenas, trimmed every 10 s** (glibc): the process runs ~50 threads (moto's
  server starts one per request, a batch imports with ten), and glibc gave them up to 16 arenas,
  each keeping the memory its threads had freed: 25% more RSS per imported user, for nothing.
  `malloc_trim` hands pages freed since back to the system.
- **moto's per-request backend lookup is cached**: moto's server listed moto's package directory
  (about 170 `stat` calls) on every request to find the service a host names, holding the lock
  every request of the server takes: a tenth of a local import's time went there, one request at
  a time.

`skip_unused_backends()` must run before anything imports moto's Step Functions interpreter
(local_stack.py calls it on import); `install()` patches the rest and returns the undo.
This is moto's internal API (moto is pinned in pyproject.toml); tests/local/test_local_stack.py
fails loudly if one of these places moves.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import importlib.util
import json
import os
import resource
import sys
import threading
import types
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

#: Packages of moto that the local stack never serves, imported only for names the interpreter uses.
UNSERVED_BACKENDS = ("moto.batch",)


def skip_unused_backends() -> None:
    """Makes each package of UNSERVED_BACKENDS importable without running its `__init__` (which
    builds the backend and imports what it needs): its modules still import one by one."""
    for name in UNSERVED_BACKENDS:
        if name in sys.modules:
            continue  # already imported (something loaded it first): nothing to save any more
        spec = importlib.util.find_spec(name)
        if spec is None or spec.submodule_search_locations is None:
            continue
        package = types.ModuleType(name, f"{name}, without its backend (bulk_import_local.moto_footprint)")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        package.__file__ = spec.origin
        sys.modules[name] = package


def install() -> Callable[[], None]:
    """Patches moto and botocore in this process; returns the undo."""
    from botocore import session as botocore_session
    from moto import backends
    from moto.core.common_models import BaseModel

    undo: list[Callable[[], None]] = []

    # -- moto's instance tracking --------------------------------------------------------------
    tracking_new = BaseModel.__dict__["__new__"]

    def untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    BaseModel.__new__ = staticmethod(untracked_new)  # type: ignore[assignment]
    for model in _subclasses(BaseModel):  # what was tracked until now
        if isinstance(model.__dict__.get("instances_tracked"), list):
            model.instances_tracked.clear()
    undo.append(lambda: setattr(BaseModel, "__new__", tracking_new))

    # -- one botocore loader ---------------------------------------------------------------------
    create_loader = botocore_session.create_loader
    loaders: dict[Any, Any] = {}
    lock = threading.Lock()

    def shared_loader(search_path_string: Any = None) -> Any:
        with lock:
            if search_path_string not in loaders:
                loaders[search_path_string] = create_loader(search_path_string)
            return loaders[search_path_string]

    botocore_session.create_loader = shared_loader
    undo.append(lambda: setattr(botocore_session, "create_loader", create_loader))

    # -- S3 bodies on disk; DynamoDB items, packed, in compact partitions; malloc ------------------
    undo.append(_s3_bodies_on_disk())
    undo.append(_pack_items())
    undo.append(_compact_partitions())
    undo.append(_tune_malloc())

    # -- moto's backend lookup -------------------------------------------------------------------
    list_of_moto_modules = backends.list_of_moto_modules
    modules = tuple(list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    undo.append(lambda: setattr(backends, "list_of_moto_modules", list_of_moto_modules))

    def undo_all() -> None:
        for step in reversed(undo):
            step()

    return undo_all


#: moto's setting: the size above which it keeps an S3 object's body in a temporary file.
S3_BUFFER_SETTING = "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE"
S3_BODY_IN_MEMORY_BYTES = 64 * 1024


def _s3_bodies_on_disk() -> Callable[[], None]:
    """Bodies over S3_BODY_IN_MEMORY_BYTES in temporary files (unless the setting is already chosen),
    and as many open files as the system lets this process have."""
    chosen = os.environ.get(S3_BUFFER_SETTING)
    if chosen is None:
        os.environ[S3_BUFFER_SETTING] = str(S3_BODY_IN_MEMORY_BYTES)
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):  # (a system may refuse: then its soft limit holds)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits[1], limits[1]))

    def undo() -> None:
        if chosen is None:
            os.environ.pop(S3_BUFFER_SETTING, None)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, limits)

    return undo


#: glibc's mallopt parameter for the number of arenas.
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2
TRIM_EVERY_SECONDS = 10.0


def _tune_malloc() -> Callable[[], None]:
    """glibc only (elsewhere nothing): at most MALLOC_ARENAS arenas for the threads started from now
    on, and free memory handed back every TRIM_EVERY_SECONDS."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt, malloc_trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    stopped = threading.Event()

    def trim() -> None:
        while not stopped.wait(TRIM_EVERY_SECONDS):
            malloc_trim(0)

    threading.Thread(target=trim, name="malloc-trim", daemon=True).start()

    def undo() -> None:
        stopped.set()
        mallopt(_M_ARENA_MAX, 0)  # glibc's default

    return undo


_UNPACKING = threading.Lock()
#: Shapes (top-level attribute names) with a dictionary of their own; later ones are kept as text.
MAX_SHAPES = 256
#: The first bytes of an item's JSON that serve as its shape's compression dictionary.
MAX_DICTIONARY = 4096
#: Sort keys up to this length are kept as one string per value.
MAX_INTERNED = 64


class _Shape:
    """Items with the same attribute names: their names, and the JSON of the first of them, the
    dictionary every later one is deflated against (an imported user then takes ~35 bytes)."""

    def __init__(self, names: tuple[str, ...], dictionary: bytes | None) -> None:
        self.names, self.dictionary = names, dictionary

    def pack(self, text: str) -> bytes | str:
        if self.dictionary is None:
            return text
        deflate = zlib.compressobj(6, zlib.DEFLATED, -15, 1, zlib.Z_DEFAULT_STRATEGY, self.dictionary)
        return deflate.compress(text.encode()) + deflate.flush()

    def unpack(self, packed: bytes | str) -> str:
        if isinstance(packed, str):
            return packed
        inflate = zlib.decompressobj(-15, self.dictionary)
        return (inflate.decompress(packed) + inflate.flush()).decode()


_SHAPES: dict[tuple[str, ...], _Shape] = {}
_SHAPES_LOCK = threading.Lock()


def _shape(names: tuple[str, ...], text: str) -> _Shape:
    shape = _SHAPES.get(names)
    if shape is None:
        with _SHAPES_LOCK:
            shape = _SHAPES.get(names)
            if shape is None:
                dictionary = text.encode()[:MAX_DICTIONARY] if len(_SHAPES) < MAX_SHAPES else None
                shape = _SHAPES[names] = _Shape(names, dictionary)
    return shape


def is_packed(item: Any) -> bool:
    return getattr(item, "_shape", None) is not None


def attribute_names(item: Any) -> Any:
    """The item's top-level attribute names, without unpacking it."""
    shape = getattr(item, "_shape", None)  # once: another thread may unpack it meanwhile
    return item.attrs.keys() if shape is None else shape.names


def _pack_items() -> Callable[[], None]:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    originals = {
        name: Item.__dict__[name] for name in ("__init__", "to_json", "describe_attrs", "size", "__deepcopy__")
    }
    moto_init, moto_to_json = originals["__init__"], originals["to_json"]
    moto_describe, moto_size, moto_deepcopy = originals["describe_attrs"], originals["size"], originals["__deepcopy__"]

    # An item's state is read and set as attributes, never through its `__dict__`: Python keeps an
    # object's attributes without a dict of their own until `__dict__` is asked for (about 100 bytes
    # an item).
    # Another thread may unpack the item between two reads: set_attrs sets `_attrs` first, then
    # clears `_packed`, then `_shape`, so `_packed` is read first, and a `_shape` gone by then
    # means `_attrs` holds the item.
    def text_of(item: Item) -> str | None:
        packed = getattr(item, "_packed", None)
        shape = getattr(item, "_shape", None)
        return None if packed is None or shape is None else shape.unpack(packed)

    def unpacked(text: str) -> Any:
        attrs = LimitedSizeDict.__new__(LimitedSizeDict)
        dict.__init__(attrs)
        for name, value in json.loads(text).items():
            dict.__setitem__(attrs, name, DynamoType(value))  # (moto checked its size when it was written)
        return attrs

    def get_attrs(self: Item) -> Any:
        text = text_of(self)
        if text is None:
            return self._attrs
        attrs = unpacked(text)
        with _UNPACKING:
            if is_packed(self):  # (another thread may have unpacked it meanwhile)
                set_attrs(self, attrs)
        return self._attrs

    def set_attrs(self: Item, attrs: Any) -> None:
        self._attrs = attrs  # in this order (text_of)
        self._packed = None
        self._shape = None

    def init(self: Item, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        moto_init(self, hash_key, range_key, attrs)  # moto's checks (its item size limit) as ever
        if not all(type(value) is dict for value in attrs.values()):
            return  # built from moto's own objects (an update's result): stays as moto made it
        try:
            text = json.dumps(attrs, separators=(",", ":"), ensure_ascii=False)
        except TypeError:
            return  # bytes (moto decodes binary values): stays as moto made it
        if '"B":' in text or '"BS":' in text:
            return  # binary values: moto's own representation differs from the request's
        shape = _shape(tuple(attrs), text)
        self._packed, self._shape, self._attrs = shape.pack(text), shape, None
        if range_key is not None and range_key.type == "S" and len(range_key.value) <= MAX_INTERNED:
            range_key.value = sys.intern(range_key.value)  # (a sort key repeats: "MESSAGE" for every message)

    def to_json(self: Item, root_attr_name: str = "Attributes") -> dict[str, Any]:
        text = text_of(self)
        if text is None:
            return moto_to_json(self, root_attr_name)
        return {root_attr_name: json.loads(text)}

    def describe_attrs(self: Item, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        text = text_of(self)
        if text is None:
            return moto_describe(self, attributes)
        attrs = unpacked(text)  # a copy for this answer: the item stays packed
        return {"Item": {name: value for name, value in attrs.items() if name in attributes} if attributes else attrs}

    def size(self: Item) -> int:
        text = text_of(self)
        if text is None:
            return moto_size(self)
        return sum(len(name.encode()) + value.size() for name, value in unpacked(text).items())

    def deepcopy(self: Item, memo: dict[int, Any]) -> Item:
        if not is_packed(self):
            return moto_deepcopy(self, memo)
        copied = Item.__new__(Item)
        memo[id(self)] = copied
        copied.hash_key = copy.deepcopy(self.hash_key, memo)
        copied.range_key = copy.deepcopy(self.range_key, memo)
        copied._packed, copied._shape, copied._attrs = self._packed, self._shape, None  # (immutable)
        return copied

    Item.__init__ = init  # type: ignore[method-assign]
    Item.to_json = to_json  # type: ignore[method-assign]
    Item.describe_attrs = describe_attrs  # type: ignore[method-assign]
    Item.size = size  # type: ignore[method-assign]
    Item.__deepcopy__ = deepcopy  # type: ignore[method-assign]
    Item.attrs = property(get_attrs, set_attrs)  # type: ignore[assignment]

    def undo() -> None:
        for name, value in originals.items():
            setattr(Item, name, value)
        del Item.attrs  # existing packed items keep working only while installed

    return undo


_EMPTY: Any = object()
_PARTITIONS = threading.Lock()


class Partition(MutableMapping[Any, Any]):
    """The items of one partition key, by sort key: the first in two slots, a dict from the second on."""

    __slots__ = ("_item", "_key", "_more")

    def __init__(self) -> None:
        self._key, self._item, self._more = _EMPTY, None, None

    # Every method holds _PARTITIONS: a read between the two steps of a write that turns the
    # partition into a dict would see neither form.
    def __getitem__(self, key: Any) -> Any:
        with _PARTITIONS:
            if self._more is not None:
                return self._more[key]
            if self._key is _EMPTY or self._key != key:
                raise KeyError(key)
            return self._item

    def __setitem__(self, key: Any, item: Any) -> None:
        with _PARTITIONS:
            if self._more is not None:
                self._more[key] = item
            elif self._key is _EMPTY or self._key == key:
                self._key, self._item = key, item
            else:
                self._more = {self._key: self._item, key: item}
                self._key, self._item = _EMPTY, None

    def __delitem__(self, key: Any) -> None:
        self.pop(key)

    def pop(self, key: Any, *default: Any) -> Any:
        """dict's pop, in one step (Mapping's reads, then deletes)."""
        with _PARTITIONS:
            if self._more is not None:
                return self._more.pop(key, *default)
            if self._key is not _EMPTY and self._key == key:
                item, self._key, self._item = self._item, _EMPTY, None
                return item
        if default:
            return default[0]
        raise KeyError(key)

    def __iter__(self) -> Iterator[Any]:
        with _PARTITIONS:
            if self._more is not None:
                return iter(list(self._more))
            return iter(() if self._key is _EMPTY else (self._key,))

    def __len__(self) -> int:
        with _PARTITIONS:
            if self._more is not None:
                return len(self._more)
            return 0 if self._key is _EMPTY else 1

    def values(self) -> Any:
        with _PARTITIONS:
            if self._more is not None:
                return list(self._more.values())
            return [] if self._key is _EMPTY else [self._item]

    def is_compact(self) -> bool:
        return self._more is None


def _compact_partitions() -> Callable[[], None]:
    """Tables with a sort key created from now on keep their partitions as Partition."""
    from moto.dynamodb.models.table import Table

    moto_init = Table.__init__

    def init(self: Table, *args: Any, **kwargs: Any) -> None:
        moto_init(self, *args, **kwargs)
        if self.range_key_attr:
            self.items = defaultdict(Partition)

    Table.__init__ = init  # type: ignore[method-assign]
    return lambda: setattr(Table, "__init__", moto_init)


def _subclasses(cls: type) -> list[type]:
    found, pending = [], [cls]
    while pending:
        for subclass in pending.pop().__subclasses__():
            found.append(subclass)
            pending.append(subclass)
    return found
