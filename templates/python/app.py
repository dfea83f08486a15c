"""{{name}}: a sluice log-transform plugin in Python.

Build: `componentize-py -d wit -w log-transform componentize -p . app -o {{name}}.wasm`
Try it: `sluice plugin test {{name}}.wasm --input sample.log`
Test natively: `python3 -m unittest app.py`

Config: `labels = { name = "value" }`, set on every record (an example to replace).
"""

import unittest

import sluice_records as sr


class MyPlugin:
    def __init__(self, config):
        sr.check_keys(config, ["labels"])
        self.labels = sr.get_str_map(config, "labels")

    def process(self, batch):
        for record in batch:
            for name, value in self.labels.items():
                record.set_label(name, value)


WitWorld = sr.export(MyPlugin)


class MyPluginTest(unittest.TestCase):
    def test_sets_labels(self):
        plugin = MyPlugin({"labels": {"env": "prod"}})
        batch = sr.Batch()
        batch.push("hello", labels={"app": "web"})
        plugin.process(batch)
        self.assertEqual(batch[0].labels, {"app": "web", "env": "prod"})
