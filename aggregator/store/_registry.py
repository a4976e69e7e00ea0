"""Silos and their specs, the model registry, central decisions: the same statements on
every backend. Each method is one transaction (or one statement)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from aggregator.store._base import (
    CentralDecisionRecord,
    ModelVersionRecord,
    SiloApproval,
    SiloRecord,
)
from aggregator.store._sql import Connected
from fedgov.decision import Decision
from fedgov.report import now_ms

__all__ = ["RegistryQueries"]

_SILO_COLS = "silo_id, jurisdiction, policy_bundle_digest, registered_ms, last_seen_ms"
_VERSION_COLS = "model_id, version, status, created_ms, spec_digest, lineage, artifact"


class RegistryQueries(Connected):
    # -- silos -----------------------------------------------------------------
    def register_silo(
        self,
        silo_id: str,
        jurisdiction: str,
        policy_bundle_digest: str,
        models: Sequence[tuple[str, str, str, str]],
    ) -> None:
        t = now_ms()
        with self._write() as db:
            # The upsert locks the silo's row: concurrent registrations of one silo queue here.
            db.execute(
                f"INSERT INTO silos ({_SILO_COLS}) VALUES (?,?,?,?,?) "
                "ON CONFLICT (silo_id) DO UPDATE SET jurisdiction=excluded.jurisdiction, "
                "policy_bundle_digest=excluded.policy_bundle_digest, "
                "last_seen_ms=excluded.last_seen_ms",
                (silo_id, jurisdiction, policy_bundle_digest, t, t),
            )
            db.execute("DELETE FROM silo_models WHERE silo_id=?", (silo_id,))
            for model_id, version, digest, spec_json in models:
                db.execute(
                    "INSERT INTO silo_models VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                    (silo_id, model_id, version, digest),
                )
                db.execute(
                    "INSERT INTO specs VALUES (?,?,?,?) ON CONFLICT (spec_digest) DO NOTHING",
                    (digest, model_id, version, spec_json),
                )

    def get_silo(self, silo_id: str) -> SiloRecord | None:
        # Every report looks its silo up: one statement (one snapshot), no transaction.
        rows = self._query(
            "SELECT s.silo_id, s.jurisdiction, s.policy_bundle_digest, s.registered_ms, "
            "s.last_seen_ms, m.model_id, m.model_version, m.spec_digest FROM silos s "
            "LEFT JOIN silo_models m ON m.silo_id = s.silo_id WHERE s.silo_id=? "
            "ORDER BY m.model_id, m.model_version",
            (silo_id,),
        )
        if not rows:
            return None
        models = tuple((r[5], r[6], r[7]) for r in rows if r[5] is not None)
        head = rows[0]
        return SiloRecord(head[0], head[1], head[2], head[3], head[4], models=models)

    def list_silos(self) -> list[SiloRecord]:
        with self._read() as db:
            rows = db.execute(f"SELECT {_SILO_COLS} FROM silos ORDER BY silo_id", ()).fetchall()
            models = db.execute(
                "SELECT silo_id, model_id, model_version, spec_digest FROM silo_models "
                "ORDER BY model_id, model_version",
                (),
            ).fetchall()
        by_silo: dict[str, list[tuple[str, str, str]]] = {}
        for m in models:
            by_silo.setdefault(m[0], []).append((m[1], m[2], m[3]))
        return [
            SiloRecord(r[0], r[1], r[2], r[3], r[4], models=tuple(by_silo.get(r[0], ())))
            for r in rows
        ]

    def approve_silo(
        self, silo_id: str, jurisdiction: str, *, approved_by: str, reason: str
    ) -> SiloApproval:
        t = now_ms()
        with self._write() as db:
            previous = None
            for table in ("silos", "silo_approvals"):  # registered, else approved before
                row = db.execute(f"SELECT jurisdiction FROM {table} WHERE silo_id=?", (silo_id,))
                found = row.fetchone()
                if previous is None and found is not None:
                    previous = str(found[0])
            db.execute(
                "INSERT INTO silo_approvals (silo_id, jurisdiction, approved_by, reason, "
                "approved_ms) VALUES (?,?,?,?,?) ON CONFLICT (silo_id) DO UPDATE SET "
                "jurisdiction=excluded.jurisdiction, approved_by=excluded.approved_by, "
                "reason=excluded.reason, approved_ms=excluded.approved_ms",
                (silo_id, jurisdiction, approved_by, reason, t),
            )
            db.execute("UPDATE silos SET jurisdiction=? WHERE silo_id=?", (jurisdiction, silo_id))
        return SiloApproval(silo_id, jurisdiction, previous, t)

    def approved_jurisdiction(self, silo_id: str) -> str | None:
        rows = self._query("SELECT jurisdiction FROM silo_approvals WHERE silo_id=?", (silo_id,))
        return str(rows[0][0]) if rows else None

    def get_spec_json(self, spec_digest: str) -> str | None:
        rows = self._query("SELECT spec_json FROM specs WHERE spec_digest=?", (spec_digest,))
        return str(rows[0][0]) if rows else None

    # -- model registry --------------------------------------------------------
    def add_model_version(self, rec: ModelVersionRecord) -> None:
        with self._write() as db:
            db.execute(
                f"INSERT INTO model_versions ({_VERSION_COLS}) VALUES (?,?,?,?,?,?,?)",
                (
                    rec.model_id,
                    rec.version,
                    rec.status,
                    rec.created_ms,
                    rec.spec_digest,
                    json.dumps(rec.lineage, sort_keys=True),
                    rec.artifact,
                ),
            )

    def _versions(self, where: str, args: Sequence[object]) -> list[ModelVersionRecord]:
        """The versions ``where`` selects with their aliases: two statements.
        (``where`` names only model_id and version, columns of both tables.)"""
        with self._read() as db:
            rows = db.execute(
                f"SELECT {_VERSION_COLS} FROM model_versions {where} "
                "ORDER BY model_id, created_ms, version",
                args,
            ).fetchall()
            aliases = db.execute(
                f"SELECT model_id, version, alias FROM model_aliases {where} ORDER BY alias", args
            ).fetchall()
        by_version: dict[tuple[str, str], list[str]] = {}
        for m, v, a in aliases:
            by_version.setdefault((m, v), []).append(a)
        return [
            ModelVersionRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                json.loads(r[5]),
                bytes(r[6]) if r[6] is not None else None,
                tuple(by_version.get((r[0], r[1]), ())),
            )
            for r in rows
        ]

    def get_model_version(self, model_id: str, version: str) -> ModelVersionRecord | None:
        found = self._versions("WHERE model_id=? AND version=?", (model_id, version))
        return found[0] if found else None

    def list_model_versions(self, model_id: str | None = None) -> list[ModelVersionRecord]:
        if model_id:
            return self._versions("WHERE model_id=?", (model_id,))
        return self._versions("", ())

    def set_model_status(self, model_id: str, version: str, status: str) -> None:
        with self._write() as db:
            cur = db.execute(
                "UPDATE model_versions SET status=? WHERE model_id=? AND version=?",
                (status, model_id, version),
            )
            if cur.rowcount != 1:
                raise KeyError(f"no model version {model_id}/{version}")

    def set_alias(self, model_id: str, alias: str, version: str) -> str | None:
        t = now_ms()
        with self._write() as db:
            prev = db.execute(
                "SELECT version FROM model_aliases WHERE model_id=? AND alias=?"
                + self.dialect.for_update,
                (model_id, alias),
            ).fetchone()
            db.execute(
                "INSERT INTO model_aliases VALUES (?,?,?,?) ON CONFLICT (model_id, alias) "
                "DO UPDATE SET version=excluded.version, set_ms=excluded.set_ms",
                (model_id, alias, version, t),
            )
            db.execute(
                "INSERT INTO alias_history (model_id, alias, version, set_ms) VALUES (?,?,?,?)",
                (model_id, alias, version, t),
            )
        return str(prev[0]) if prev else None

    def resolve_alias(self, model_id: str, alias: str) -> str | None:
        rows = self._query(
            "SELECT version FROM model_aliases WHERE model_id=? AND alias=?", (model_id, alias)
        )
        return str(rows[0][0]) if rows else None

    def alias_history(self, model_id: str, alias: str) -> list[tuple[str, int]]:
        rows = self._query(
            "SELECT version, set_ms FROM alias_history WHERE model_id=? AND alias=? "
            "ORDER BY id DESC",
            (model_id, alias),
        )
        return [(str(r[0]), int(r[1])) for r in rows]

    # -- central decisions -----------------------------------------------------
    def add_central_decision(self, rec: CentralDecisionRecord) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO central_decisions (model_id, model_version, jurisdiction_group, "
                'evaluated_ms, silos, "rows", decision, source) VALUES (?,?,?,?,?,?,?,?)',
                (
                    rec.model_id,
                    rec.model_version,
                    rec.jurisdiction_group,
                    rec.evaluated_ms,
                    json.dumps(list(rec.silos)),
                    rec.rows,
                    json.dumps(rec.decision.to_dict(), sort_keys=True),
                    rec.source,
                ),
            )

    def latest_central_decisions(self) -> list[CentralDecisionRecord]:
        """The newest decision (highest id) of each (model, version, jurisdiction group)."""
        rows = self._query(
            "SELECT model_id, model_version, jurisdiction_group, evaluated_ms, silos, "
            '"rows", decision, source FROM central_decisions WHERE id IN (SELECT max(id) FROM '
            "central_decisions GROUP BY model_id, model_version, jurisdiction_group) "
            "ORDER BY model_id, model_version, jurisdiction_group"
        )
        return [
            CentralDecisionRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                tuple(json.loads(r[4])),
                r[5],
                Decision.from_dict(json.loads(r[6])),
                str(r[7]),
            )
            for r in rows
        ]
