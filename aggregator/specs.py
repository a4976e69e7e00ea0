"""The monitoring specs the aggregator knows, by digest, decoded once.

A spec enters when a silo registers it (or a retraining job makes a
candidate); afterwards it is read back from the store on first use and kept.
The spec of a registered model version is found through the silos serving it.
"""

from __future__ import annotations

import json

from aggregator.store import Store
from fedgov.errors import QueryError
from fedgov.spec import MonitoringSpec

__all__ = ["SpecCache"]


class SpecCache:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._specs: dict[str, MonitoringSpec] = {}

    def add(self, spec: MonitoringSpec) -> None:
        self._specs[spec.digest] = spec

    def get(self, digest: str) -> MonitoringSpec | None:
        """The spec with this digest, or None if no silo registered it."""
        if digest not in self._specs:
            text = self._store.get_spec_json(digest)
            if text is None:
                return None
            self._specs[digest] = MonitoringSpec.from_dict(json.loads(text))
        return self._specs[digest]

    def for_model(self, model_id: str, version: str) -> MonitoringSpec:
        """The spec a silo registered for this model version; QueryError if none did."""
        for silo in self._store.list_silos():
            for m, v, digest in silo.models:
                if (m, v) == (model_id, version):
                    spec = self.get(digest)
                    if spec is not None:
                        return spec
        raise QueryError(f"no spec registered for {model_id}/{version}")
