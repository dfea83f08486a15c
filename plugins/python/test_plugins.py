"""Native unit tests of sluice_records and the Python plugins: `python3 -m unittest
discover -s plugins/python` (no component needed; host functions fall back)."""

import importlib.util
import pathlib
import sys
import unittest

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))

import sluice_records as sr  # noqa: E402


def load(name):
    spec = importlib.util.spec_from_file_location(f"{name}_app", HERE / name / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def columns():
    return sr.LogBatch(
        lines="héllo a@b.cdworld",
        line_ends=[7, 13, 18],
        timestamps=[1, 2, 3],
        label_sets=[[("app", "web")], [("app", "api"), ("env", "dev")]],
        label_set_of=[0, 1, 0],
        metadata="trace_idt1k2v2",
        metadata_ends=[8, 10, 12, 14],
        record_metadata_ends=[1, 1, 2],
    )


class RecordsTest(unittest.TestCase):
    def test_round_trip_keeps_columns(self):
        b = sr.Batch(columns())
        self.assertEqual([r.line for r in b], ["héllo ", "a@b.cd", "world"])
        self.assertEqual(b[1].label("env"), "dev")
        self.assertEqual(b[0].meta("trace_id"), "t1")
        self.assertEqual(b[2].metadata, [("k2", "v2")])
        out = b.to_log_batch()
        self.assertEqual(out.lines, "héllo a@b.cdworld")
        self.assertEqual(out.line_ends, [7, 13, 18])  # bytes: é is two
        self.assertEqual(out.label_set_of, [0, 1, 0])
        self.assertEqual(out.metadata_ends, [8, 10, 12, 14])
        self.assertEqual(out.record_metadata_ends, [1, 1, 2])

    def test_edits(self):
        b = sr.Batch(columns())
        b[0].set_label("env", "prod")
        b[1].remove_label("env")
        b[2].set_meta("k2", "ü")
        b[2].remove_meta("nope")
        b.retain(lambda r: r.timestamp != 2)
        b.push("new", 9, {"z": "1", "a": "2"}, [("k", "v")])
        out = b.to_log_batch()
        self.assertEqual(out.label_sets[0], [("app", "web"), ("env", "prod")])
        self.assertEqual(out.label_sets[out.label_set_of[2]], [("a", "2"), ("z", "1")])
        self.assertEqual(out.metadata, "trace_idt1k2ük" + "v")
        self.assertEqual(out.metadata_ends, [8, 10, 12, 14, 15, 16])
        self.assertEqual(out.record_metadata_ends, [1, 2, 3])
        self.assertEqual(out.timestamps, [1, 3, 9])

    def test_replace_spans(self):
        self.assertEqual(sr.replace_spans("abcdef", [(1, 2, "X"), (4, 6, "")]), "aXcd")
        self.assertEqual(sr.parse_json('{"a":1}'), {"a": 1})
        self.assertIsNone(sr.parse_json("[1]"))


class PluginsTest(unittest.TestCase):
    def test_redact(self):
        p = load("redact").Redact({})
        b = sr.Batch()
        for line in [
            "login ok for alice.smith@example.com from 192.168.10.7",
            "slow response for Bob+billing@Mail.Example.org from 10.0.0.255:8080",
            "version 1.2.3.4.5 and not-an-ip 999.1.1.1",
        ]:
            b.push(line)
        p.process(b)
        self.assertEqual(
            [r.line for r in b],
            [
                "login ok for <email> from <ipv4>",
                "slow response for <email> from <ipv4>:8080",
                "version 1.2.3.4.5 and not-an-ip 999.1.1.1",
            ],
        )
        with self.assertRaises(sr.PluginError):
            load("redact").Redact({"rulez": []})

    def test_enrich(self):
        p = load("enrich").Enrich({"labels": {"env": "prod"}, "from_metadata": {"tenant": "t"},
                                   "max_values_per_label": 1})
        b = sr.Batch()
        b.push("a", labels={"app": "web", "env": "dev"}, metadata=[("t", "x")])
        b.push("b", labels={"app": "web", "env": "dev"}, metadata=[("t", "y")])
        b.push("c", labels={"app": "api"})
        p.process(b)
        self.assertEqual(b[0].labels, {"app": "web", "env": "prod", "tenant": "x"})
        self.assertEqual(b[1].label("tenant"), "__overflow__")
        self.assertEqual(b[2].labels, {"app": "api", "env": "prod"})
        for bad in [{"lables": {}}, {"labels": {"bad-name": "x"}}, {"labels": {"env": 1}}]:
            with self.assertRaises(sr.PluginError):
                load("enrich").Enrich(bad)


if __name__ == "__main__":
    unittest.main()
