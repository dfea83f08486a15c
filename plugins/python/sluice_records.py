"""sluice_records: records over the columnar log batch, for Python sluice plugins.

A sluice plugin is a WebAssembly component exporting the `log-transform` world of
`wit/sluice.wit` (package `sluice:plugin@0.1.4`, world `log-transform`). The host hands it a batch of records as
a few flat columns (every line in one string plus byte end offsets, interned label sets,
packed metadata). This module hides those offsets: a plugin gets a `Batch` of `Record`s
with a `line`, a `timestamp`, labels and metadata, changes them in place, and the module
builds valid output columns again.

A plugin is a class built from its config (a dict) with a `process(batch)` method, plus
one line that exports it::

    import sluice_records as sr

    class Upper:
        def __init__(self, config):
            sr.check_keys(config, [])

        def process(self, batch):
            for record in batch:
                record.line = record.line.upper()

    WitWorld = sr.export(Upper)

Build it with componentize-py (see docs/plugins.md); `export` turns Python exceptions into
the contract's `err` results, so a bug fails one batch rather than the instance.

Outside a component (plain `python3`, for unit tests) the module still works: the host
functions fall back to stderr / "no metric declared", and `LogBatch` is a local dataclass
with the same fields as the generated one.
"""

import json
from dataclasses import dataclass, field
from enum import Enum

try:  # inside the component: the bindings componentize-py generates from wit/sluice.wit
    from wit_world.imports import host as _host
    from wit_world.imports.types import Level, LogBatch
    from componentize_py_types import Err as _Err
except ImportError:  # natively, for tests
    _host = None

    class Level(Enum):
        """Severity of a plugin's own diagnostic message."""

        TRACE = 0
        DEBUG = 1
        INFO = 2
        WARN = 3
        ERROR = 4

    @dataclass
    class LogBatch:
        """The WIT `log-batch` record (same fields as the generated dataclass)."""

        lines: str = ""
        line_ends: list = field(default_factory=list)
        timestamps: list = field(default_factory=list)
        label_sets: list = field(default_factory=list)
        label_set_of: list = field(default_factory=list)
        metadata: str = ""
        metadata_ends: list = field(default_factory=list)
        record_metadata_ends: list = field(default_factory=list)

    class _Err(Exception):
        """Stand-in for componentize-py's `Err` outside a component."""

        def __init__(self, value):
            super().__init__(value)
            self.value = value


class PluginError(Exception):
    """Raise from `__init__` or `process` to refuse a config or fail a batch with a message."""


def _slicer(text, ends):
    """Returns the pieces of `text` cut at the UTF-8 byte offsets `ends` (0 first)."""
    if text.isascii():  # O(1) in CPython: byte offsets are character offsets
        source = text
        decode = False
    else:
        source = text.encode("utf-8")
        decode = True
    out = []
    start = 0
    for end in ends:
        piece = source[start:end]
        out.append(piece.decode("utf-8") if decode else piece)
        start = end
    return out


def _join(pieces):
    """Joins strings into one column and its UTF-8 byte end offsets."""
    text = "".join(pieces)
    ends = []
    total = 0
    if text.isascii():
        for p in pieces:
            total += len(p)
            ends.append(total)
    else:
        for p in pieces:
            total += len(p.encode("utf-8"))
            ends.append(total)
    return text, ends


class Record:
    """One log record: `line` (str, read and assign), `timestamp` (ns since the epoch),
    labels and metadata (read with `label` / `meta`, change with `set_label` /
    `set_meta` / `remove_label` / `remove_meta`)."""

    __slots__ = ("line", "timestamp", "_labels", "_set", "_meta")

    def __init__(self, line, timestamp=0, labels=None, metadata=None):
        self.line = line
        self.timestamp = timestamp
        # Either an interned set shared with other records (a tuple of pairs, `_set` its
        # index in the input batch) or a dict this record owns after its first label edit.
        self._labels = dict(labels) if labels else {}
        self._set = None
        self._meta = list(metadata) if metadata else []

    # labels ------------------------------------------------------------------------------

    @property
    def labels(self):
        """The labels as a new dict (changing it changes nothing; use `set_label`)."""
        return dict(self._labels)

    def label(self, name, default=None):
        """The value of label `name`, or `default`."""
        labels = self._labels
        if isinstance(labels, dict):
            return labels.get(name, default)
        for n, v in labels:
            if n == name:
                return v
        return default

    def _own_labels(self):
        if not isinstance(self._labels, dict):
            self._labels = dict(self._labels)
            self._set = None
        return self._labels

    def set_label(self, name, value):
        """Sets label `name` to `value` (replacing any value it had)."""
        if self.label(name) != value:
            self._own_labels()[name] = value

    def remove_label(self, name):
        """Removes label `name` if present."""
        if self.label(name) is not None:
            del self._own_labels()[name]

    # metadata ----------------------------------------------------------------------------

    @property
    def metadata(self):
        """The metadata pairs as a new list of `(key, value)` tuples, in order."""
        return list(self._meta)

    def meta(self, key, default=None):
        """The value of the first metadata pair with `key`, or `default`."""
        for k, v in self._meta:
            if k == key:
                return v
        return default

    def set_meta(self, key, value):
        """Sets metadata `key` to `value`: replaces its first pair, or appends one."""
        for i, (k, _) in enumerate(self._meta):
            if k == key:
                self._meta[i] = (key, value)
                return
        self._meta.append((key, value))

    def remove_meta(self, key):
        """Removes every pair with `key`."""
        self._meta = [(k, v) for k, v in self._meta if k != key]

    # helpers -----------------------------------------------------------------------------

    def json(self):
        """The line parsed as a JSON object (a dict), or None when it is not one."""
        return parse_json(self.line)

    def __repr__(self):
        return (
            f"Record(line={self.line!r}, timestamp={self.timestamp}, "
            f"labels={self.labels!r}, metadata={self._meta!r})"
        )


class Batch:
    """The records of one batch, in order: iterate, index, `len()`, `retain`, `push`.

    Build one from the host's columns with `Batch(log_batch)` (done by `export`), or
    empty with `Batch()` and `push` (for tests). `to_log_batch()` gives the columns back.
    """

    def __init__(self, log_batch=None):
        self.records = []
        self._input_sets = []
        if log_batch is None:
            return
        b = log_batch
        lines = _slicer(b.lines, b.line_ends)
        pieces = _slicer(b.metadata, b.metadata_ends)
        sets = [tuple(tuple(label) for label in s) for s in b.label_sets]
        self._input_sets = sets
        records = self.records
        start = 0
        for i, line in enumerate(lines):
            r = Record.__new__(Record)
            r.line = line
            r.timestamp = b.timestamps[i]
            s = b.label_set_of[i]
            r._labels = sets[s]
            r._set = s
            end = b.record_metadata_ends[i]
            r._meta = [(pieces[2 * p], pieces[2 * p + 1]) for p in range(start, end)]
            start = end
            records.append(r)

    def __len__(self):
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, i):
        return self.records[i]

    def push(self, line, timestamp=0, labels=None, metadata=None):
        """Appends a record; `labels` a dict or pairs, `metadata` a list of pairs."""
        r = Record(line, timestamp, labels, metadata)
        self.records.append(r)
        return r

    def retain(self, keep):
        """Keeps only the records for which `keep(record)` is true (a filter)."""
        self.records = [r for r in self.records if keep(r)]

    def map_label_sets(self, change):
        """Calls `change(labels_dict)` once per distinct label set rather than per record;
        the dict it changes in place becomes the labels of every record that had that set.
        The cheap way to add or rewrite labels that do not depend on the line."""
        done = {}
        for r in self.records:
            labels = r._labels
            key = r._set if r._set is not None else tuple(sorted(r._own_labels().items()))
            new = done.get(key)
            if new is None:
                new = dict(labels)
                change(new)
                new = tuple(sorted(new.items()))
                done[key] = new
            r._labels = new
            r._set = None

    def to_log_batch(self):
        """The records as WIT columns that satisfy every rule of `log-batch`."""
        records = self.records
        lines, line_ends = _join([r.line for r in records])
        sets = []
        index = {}
        set_of = []
        meta_pieces = []
        meta_ends = []
        # Output set of each untouched input set: most records skip the sort and the key.
        from_input = {}
        for r in records:
            s = from_input.get(r._set) if r._set is not None else None
            if s is None:
                labels = r._labels
                key = (
                    tuple(sorted(labels.items()))
                    if isinstance(labels, dict)
                    else tuple(sorted(labels))
                )
                s = index.get(key)
                if s is None:
                    s = len(sets)
                    index[key] = s
                    sets.append(list(key))
                if r._set is not None:
                    from_input[r._set] = s
            set_of.append(s)
            for k, v in r._meta:
                meta_pieces.append(k)
                meta_pieces.append(v)
            meta_ends.append(len(meta_pieces) // 2)
        metadata, metadata_ends = _join(meta_pieces)
        return LogBatch(
            lines=lines,
            line_ends=line_ends,
            timestamps=[r.timestamp for r in records],
            label_sets=sets,
            label_set_of=set_of,
            metadata=metadata,
            metadata_ends=metadata_ends,
            record_metadata_ends=meta_ends,
        )


# Helpers for the common work -------------------------------------------------------------


def parse_json(line):
    """`line` parsed as a JSON object (a dict), or None when it is not one."""
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def replace_spans(line, spans):
    """`line` with each `(start, end, replacement)` span (str indices, sorted, not
    overlapping) replaced."""
    if not spans:
        return line
    out = []
    at = 0
    for start, end, replacement in spans:
        out.append(line[at:start])
        out.append(replacement)
        at = end
    out.append(line[at:])
    return "".join(out)


def check_keys(config, allowed):
    """Raises PluginError naming the first key of `config` not in `allowed`."""
    if not isinstance(config, dict):
        raise PluginError("config must be a table")
    for key in config:
        if key not in allowed:
            known = ", ".join(f"`{k}`" for k in allowed) or "none"
            raise PluginError(f"unknown config key `{key}` (known: {known})")


def get_str_map(config, key):
    """`config[key]` as a dict of str -> str ({} when absent); PluginError otherwise."""
    value = config.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise PluginError(f"`{key}` must be a table of strings")
    return dict(value)


def log(level, message):
    """Writes a diagnostic message to the collector's log (stderr natively). Never log
    record contents a plugin is meant to redact."""
    if _host is None:
        import sys

        print(f"[{level.name}] {message}", file=sys.stderr)
    else:
        _host.log(level, message)


def metric_id(name):
    """The id of the metric `name` declared for this transform, or None (always natively)."""
    return None if _host is None else _host.metric_id(name)


def counter_add(metric, labels, value, trace_id=None):
    """Adds `value` to counter `metric` with label values `labels` (no-op natively)."""
    if _host is not None:
        _host.counter_add(metric, list(labels), float(value), trace_id)


def histogram_observe(metric, labels, value, trace_id=None):
    """Observes `value` in histogram `metric` with label values `labels` (no-op natively)."""
    if _host is not None:
        _host.histogram_observe(metric, list(labels), float(value), trace_id)


# The export adapter ------------------------------------------------------------------------

_state = {}


def _message(e):
    if isinstance(e, PluginError):
        return str(e)
    return f"{type(e).__name__}: {e}"


def export(plugin_class):
    """The `WitWorld` class componentize-py looks for, built around `plugin_class`:
    `init` parses the config JSON and calls `plugin_class(config)`; `process` wraps the
    columns in a `Batch`, calls `plugin.process(batch)` and returns the new columns. Any
    exception becomes the call's error result."""

    class WitWorld:
        def init(self, config):
            try:
                parsed = json.loads(config)
                _state["plugin"] = plugin_class(parsed)
            except Exception as e:  # noqa: BLE001 - every failure is the plugin's answer
                raise _Err(_message(e))

        def process(self, batch):
            plugin = _state.get("plugin")
            if plugin is None:
                raise _Err("plugin not initialised: process called before init")
            try:
                records = Batch(batch)
                plugin.process(records)
                return records.to_log_batch()
            except Exception as e:  # noqa: BLE001
                raise _Err(_message(e))

    return WitWorld
