// sluice_records: records over the columnar log batch, for JavaScript sluice plugins.
//
// A sluice plugin is a WebAssembly component exporting the `log-transform` world of
// `wit/sluice.wit` (package `sluice:plugin@0.1.4`, world `log-transform`). The host hands it a batch of records as
// a few flat columns (every line in one string plus UTF-8 byte end offsets, interned label
// sets, packed metadata). This module hides those offsets: a plugin gets a `Batch` of
// `Record`s with a `line`, a `timestamp` (BigInt ns), labels and metadata, changes them in
// place, and the module builds valid output columns again.
//
// A plugin is a class built from its config (a plain object) with a `process(batch)`
// method, exported in one line:
//
//     import { exportPlugin } from "../sluice_records.js";
//     class Upper {
//       constructor(config) {}
//       process(batch) { for (const r of batch) r.line = r.line.toUpperCase(); }
//     }
//     export const { init, process } = exportPlugin(Upper);
//
// Build with componentize-js (see docs/plugins.md and build.mjs): the plugin and this module
// are bundled into one ES module first. `exportPlugin` turns exceptions into the contract's
// `err` results, so a bug fails one batch rather than the instance.
//
// The host functions come from the `sluice:plugin/host` import; `setHost` replaces them
// (the Node.js unit tests use it, where no host exists).

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ASCII = /^[\x00-\x7f]*$/;

/** Raised by a plugin to refuse a config or fail a batch with a message. */
export class PluginError extends Error {}

/** Severity names for `log` (the WIT `level` enum). */
export const Level = Object.freeze({
  trace: "trace",
  debug: "debug",
  info: "info",
  warn: "warn",
  error: "error",
});

let host = {
  log: (level, message) => console.error(`[${level}] ${message}`),
  metricId: () => undefined,
  counterAdd: () => {},
  histogramObserve: () => {},
};

/** Replaces the host functions (the build wires in the real ones; tests stub them). */
export function setHost(functions) {
  host = { ...host, ...functions };
}

/** Cuts `text` at the UTF-8 byte offsets `ends`. */
function slice(text, ends) {
  const out = new Array(ends.length);
  let start = 0;
  if (ASCII.test(text)) {
    for (let i = 0; i < ends.length; i++) {
      out[i] = text.slice(start, ends[i]);
      start = ends[i];
    }
  } else {
    const bytes = encoder.encode(text);
    for (let i = 0; i < ends.length; i++) {
      out[i] = decoder.decode(bytes.subarray(start, ends[i]));
      start = ends[i];
    }
  }
  return out;
}

/** Joins strings into one column and its UTF-8 byte end offsets. */
function join(pieces) {
  const text = pieces.join("");
  const ends = new Uint32Array(pieces.length);
  let total = 0;
  const ascii = ASCII.test(text);
  for (let i = 0; i < pieces.length; i++) {
    total += ascii ? pieces[i].length : encoder.encode(pieces[i]).length;
    ends[i] = total;
  }
  return [text, ends];
}

function sortedPairs(map) {
  return [...map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/**
 * One log record: `line` (string, read and assign), `timestamp` (BigInt ns since the
 * epoch), labels (`label`, `setLabel`, `removeLabel`, `labels`) and metadata (`meta`,
 * `setMeta`, `removeMeta`, `metadata`).
 */
export class Record {
  constructor(line, timestamp = 0n, labels = undefined, metadata = undefined) {
    this.line = line;
    this.timestamp = BigInt(timestamp);
    // A label set shared with other records (array of pairs, `_set` its input index) or,
    // after the record's first label edit, a Map it owns.
    this._labels = new Map(labels instanceof Map ? labels : Object.entries(labels ?? {}));
    this._set = undefined;
    this._meta = metadata ? metadata.map(([k, v]) => [k, v]) : [];
  }

  /** The labels as a new plain object. */
  get labels() {
    return Object.fromEntries(this._labels instanceof Map ? this._labels : this._labels);
  }

  /** The value of label `name`, or undefined. */
  label(name) {
    if (this._labels instanceof Map) return this._labels.get(name);
    for (const [n, v] of this._labels) if (n === name) return v;
    return undefined;
  }

  _ownLabels() {
    if (!(this._labels instanceof Map)) {
      this._labels = new Map(this._labels);
      this._set = undefined;
    }
    return this._labels;
  }

  /** Sets label `name` to `value`. */
  setLabel(name, value) {
    if (this.label(name) !== value) this._ownLabels().set(name, value);
  }

  /** Removes label `name` if present. */
  removeLabel(name) {
    if (this.label(name) !== undefined) this._ownLabels().delete(name);
  }

  /** The metadata pairs as a new array of `[key, value]`, in order. */
  get metadata() {
    return this._meta.map(([k, v]) => [k, v]);
  }

  /** The value of the first metadata pair with `key`, or undefined. */
  meta(key) {
    for (const [k, v] of this._meta) if (k === key) return v;
    return undefined;
  }

  /** Sets metadata `key` to `value`: replaces its first pair or appends one. */
  setMeta(key, value) {
    for (const pair of this._meta) {
      if (pair[0] === key) {
        pair[1] = value;
        return;
      }
    }
    this._meta.push([key, value]);
  }

  /** Removes every pair with `key`. */
  removeMeta(key) {
    this._meta = this._meta.filter(([k]) => k !== key);
  }

  /** The line parsed as a JSON object, or undefined when it is not one. */
  json() {
    return parseJson(this.line);
  }
}

/**
 * The records of one batch, in order: iterate, `get(i)`, `length`, `retain`, `push`.
 * `new Batch(logBatch)` wraps the host's columns (done by `exportPlugin`); `new Batch()`
 * starts empty (tests). `toLogBatch()` gives columns back.
 */
export class Batch {
  constructor(cols = undefined) {
    this.records = [];
    if (!cols) return;
    const lines = slice(cols.lines, cols.lineEnds);
    const pieces = slice(cols.metadata, cols.metadataEnds);
    const sets = cols.labelSets.map((set) => set.map(([n, v]) => [n, v]));
    let start = 0;
    for (let i = 0; i < lines.length; i++) {
      const r = Object.create(Record.prototype);
      r.line = lines[i];
      r.timestamp = BigInt(cols.timestamps[i]);
      const s = cols.labelSetOf[i];
      r._labels = sets[s];
      r._set = s;
      const end = cols.recordMetadataEnds[i];
      r._meta = [];
      for (let p = start; p < end; p++) r._meta.push([pieces[2 * p], pieces[2 * p + 1]]);
      start = end;
      this.records.push(r);
    }
  }

  get length() {
    return this.records.length;
  }

  [Symbol.iterator]() {
    return this.records[Symbol.iterator]();
  }

  /** Record `i`. */
  get(i) {
    return this.records[i];
  }

  /** Appends a record; `labels` an object or Map, `metadata` an array of pairs. */
  push(line, timestamp = 0n, labels = undefined, metadata = undefined) {
    const r = new Record(line, timestamp, labels, metadata);
    this.records.push(r);
    return r;
  }

  /** Keeps only the records for which `keep(record)` is true (a filter). */
  retain(keep) {
    this.records = this.records.filter(keep);
  }

  /**
   * Calls `change(labelsMap)` once per distinct label set rather than per record; the Map
   * it changes becomes the labels of every record that had that set.
   */
  mapLabelSets(change) {
    const done = new Map();
    for (const r of this.records) {
      const key =
        r._set !== undefined ? r._set : JSON.stringify(sortedPairs(r._ownLabels()));
      let labels = done.get(key);
      if (labels === undefined) {
        labels = new Map(r._labels);
        change(labels);
        labels = sortedPairs(labels);
        done.set(key, labels);
      }
      r._labels = labels;
      r._set = undefined;
    }
  }

  /** The records as WIT columns that satisfy every rule of `log-batch`. */
  toLogBatch() {
    const records = this.records;
    const n = records.length;
    const [lines, lineEnds] = join(records.map((r) => r.line));
    const timestamps = new BigInt64Array(n);
    const labelSetOf = new Uint32Array(n);
    const recordMetadataEnds = new Uint32Array(n);
    const labelSets = [];
    const index = new Map();
    // Output set of each untouched input set: most records skip the sort and the key.
    const fromInput = new Map();
    const pieces = [];
    for (let i = 0; i < n; i++) {
      const r = records[i];
      timestamps[i] = r.timestamp;
      let s = r._set === undefined ? undefined : fromInput.get(r._set);
      if (s === undefined) {
        const pairs =
          r._labels instanceof Map
            ? sortedPairs(r._labels)
            : [...r._labels].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        const key = JSON.stringify(pairs);
        s = index.get(key);
        if (s === undefined) {
          s = labelSets.length;
          index.set(key, s);
          labelSets.push(pairs);
        }
        if (r._set !== undefined) fromInput.set(r._set, s);
      }
      labelSetOf[i] = s;
      for (const [k, v] of r._meta) pieces.push(k, v);
      recordMetadataEnds[i] = pieces.length / 2;
    }
    const [metadata, metadataEnds] = join(pieces);
    return {
      lines,
      lineEnds,
      timestamps,
      labelSets,
      labelSetOf,
      metadata,
      metadataEnds,
      recordMetadataEnds,
    };
  }
}

// Helpers for the common work --------------------------------------------------------------

/** `line` parsed as a JSON object, or undefined when it is not one. */
export function parseJson(line) {
  if (!line.startsWith("{")) return undefined;
  try {
    const v = JSON.parse(line);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** `line` with each `[start, end, replacement]` span (string indices, sorted, not
 * overlapping) replaced. */
export function replaceSpans(line, spans) {
  let out = "";
  let at = 0;
  for (const [start, end, replacement] of spans) {
    out += line.slice(at, start) + replacement;
    at = end;
  }
  return out + line.slice(at);
}

/** Throws PluginError naming the first key of `config` not in `allowed`. */
export function checkKeys(config, allowed) {
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new PluginError("config must be a table");
  }
  for (const key of Object.keys(config)) {
    if (!allowed.includes(key)) {
      const known = allowed.map((k) => `\`${k}\``).join(", ") || "none";
      throw new PluginError(`unknown config key \`${key}\` (known: ${known})`);
    }
  }
}

/** `config[key]` as an object of strings ({} when absent); PluginError otherwise. */
export function getStrMap(config, key) {
  const v = config[key] ?? {};
  if (
    typeof v !== "object" ||
    Array.isArray(v) ||
    !Object.values(v).every((x) => typeof x === "string")
  ) {
    throw new PluginError(`\`${key}\` must be a table of strings`);
  }
  return { ...v };
}

/** Writes a diagnostic message to the collector's log. Never log redacted contents. */
export function log(level, message) {
  host.log(level, message);
}

/** The id of the metric `name` declared for this transform, or undefined. */
export function metricId(name) {
  return host.metricId(name);
}

/** Adds `value` to counter `metric` with label values `labels`. */
export function counterAdd(metric, labels, value, traceId = undefined) {
  host.counterAdd(metric, labels, value, traceId);
}

/** Observes `value` in histogram `metric` with label values `labels`. */
export function histogramObserve(metric, labels, value, traceId = undefined) {
  host.histogramObserve(metric, labels, value, traceId);
}

// The export adapter -------------------------------------------------------------------------

function message(e) {
  if (e instanceof PluginError) return e.message;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

/**
 * The component's `init` and `process` exports, built around `PluginClass`: `init` parses
 * the config JSON and calls `new PluginClass(config)`; `process` wraps the columns in a
 * `Batch`, calls `plugin.process(batch)` and returns the new columns. Any exception
 * becomes the call's error result.
 */
export function exportPlugin(PluginClass) {
  let plugin;
  return {
    init(config) {
      try {
        plugin = new PluginClass(JSON.parse(config));
      } catch (e) {
        throw message(e);
      }
    },
    process(cols) {
      if (plugin === undefined) throw "plugin not initialised: process called before init";
      try {
        const batch = new Batch(cols);
        plugin.process(batch);
        return batch.toLogBatch();
      } catch (e) {
        throw message(e);
      }
    },
  };
}
