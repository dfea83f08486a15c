"""py-identity: returns every batch unchanged, through the record view.

It exists to measure what a Python plugin costs before it does any work: the boundary copy
plus `sluice_records` decoding the columns into records and building them again (compare the
Rust `identity` plugin). Config: none.
"""

import sluice_records as sr


class Identity:
    def __init__(self, config):
        pass

    def process(self, batch):
        pass


WitWorld = sr.export(Identity)
