"""Make an OPA server hold a bundle: its data, its modules, none of our stale ones.

Each top-level key of data.json goes up with ``PUT /v1/data/{key}``, each
package's modules with ``PUT /v1/policies/fedgov/{file}`` (one module) or
``.../{file}+{file}...`` (several, merged: :mod:`fedgov.policy._opa_merge`,
since OPA refuses modules of one package that need each other when they come
one at a time); policies uploaded before (ids
starting with :data:`POLICY_PREFIX`) that the bundle no longer has are
deleted, and so are top-level data keys the previous bundle had and this one
lacks. Policies of other owners are left alone.

opa-python-client's policy upload (``update_policy_from_string``) rewrites
v0 Rego to v1 with a regular expression when OPA rejects it; that is turned
off (``rego_compat=False``): what OPA evaluates must be the modules the digest
names. Bundles in v0 syntax need OPA started with ``--v0-compatible``. It
also reports any status other than 200 as a parse error without the status,
so upload errors are not retried on 503.

OPA compiles all stored modules on every ``PUT /v1/policies``, so a package
that calls a function from a package not yet uploaded is rejected; uploads
repeat over the policies still pending until all are in or a pass makes no
progress. What goes wrong raises :class:`~fedgov.errors.PolicyError` (a
compile error at the file, line and column OPA names).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fedgov.errors import PolicyError
from fedgov.policy._bundle import Bundle
from fedgov.policy._opa_http import OpaCallFailed, OpaHttp, opa_errors
from fedgov.policy._opa_merge import Upload, uploads

__all__ = ["POLICY_PREFIX", "BundleUploader"]

logger = logging.getLogger(__name__)

#: Policy ids this engine owns in OPA start with this; others are left alone.
POLICY_PREFIX = "fedgov/"


class _Rejected(Exception):
    """OPA refused a module (compile error); retried while other modules make progress."""

    def __init__(self, error: PolicyError) -> None:
        super().__init__(str(error))
        self.error = error


class BundleUploader:
    """Uploads bundles to the OPA behind ``http``.

    :attr:`changed` tells whether the last :meth:`upload` sent anything that
    changes what OPA holds (so a failed upload may need the previous bundle
    restored).
    """

    def __init__(self, http: OpaHttp) -> None:
        self.http = http
        self.changed = False

    @property
    def url(self) -> str:
        return self.http.url

    def upload(self, bundle: Bundle, *, previous: Bundle | None) -> None:
        """Make OPA hold ``bundle``: its data, its modules, none of our others."""
        self.changed = False
        try:
            self._sync(bundle, previous)
        except PolicyError:
            raise
        except Exception as exc:  # opa-python-client reading an answer it did not expect
            logger.debug("uploading to OPA at %s failed", self.url, exc_info=True)
            raise PolicyError(
                f"unexpected answer from OPA at {self.url} while uploading"
                f" ({type(exc).__name__}: {exc})",
                file=str(bundle.path),
            ) from None

    def _sync(self, bundle: Bundle, previous: Bundle | None) -> None:
        try:
            listed = self.http.call(self.http.client.get_policies_list)
        except OpaCallFailed as exc:
            raise PolicyError(
                f"OPA at {self.url} is not usable: {exc}; start the sidecar first"
                " (or raise the timeout and retries)",
                file=str(bundle.path),
            ) from None
        self.changed = True
        ours = {str(i) for i in listed if str(i).startswith(POLICY_PREFIX)}
        wanted = {u.policy_id: u for u in uploads(bundle, POLICY_PREFIX)}
        for key, value in bundle.data.items():
            self._put_data(bundle, key, value)
        pending = sorted(wanted)
        stale = sorted(ours - set(wanted))
        while pending:
            errors: dict[str, PolicyError] = {}
            for policy_id in pending:
                try:
                    self._put_policy(bundle, policy_id, wanted[policy_id])
                except _Rejected as exc:
                    errors[policy_id] = exc.error
            if errors and len(errors) == len(pending):
                if not stale:  # no progress and nothing left to clear away
                    raise errors[pending[0]]
                self._delete_policies(bundle, stale)  # an old module may conflict
                stale = []
            pending = sorted(errors)
        self._delete_policies(bundle, stale)
        if previous is not None:
            for key in sorted(set(previous.data) - set(bundle.data)):
                self._delete_data(bundle, key)

    def _put_policy(self, bundle: Bundle, policy_id: str, upload: Upload) -> None:
        endpoint = quote(policy_id, safe="/+")
        client = self.http.client
        try:
            self.http.call(
                lambda: client.update_policy_from_string(upload.text, endpoint, rego_compat=False)
            )
        except opa_errors().RegoParseError as exc:
            raise _Rejected(_compile_error(bundle, exc, upload)) from None
        except OpaCallFailed as exc:
            raise PolicyError(
                f"could not upload to OPA at {self.url}: {exc}",
                file=bundle.file(upload.lines[0][0]),
            ) from None

    def _put_data(self, bundle: Bundle, key: str, value: Any) -> None:
        endpoint = quote(key, safe="")
        client = self.http.client
        try:
            if isinstance(value, dict):
                self.http.call(lambda: client.update_or_create_data(value, endpoint))
            else:  # opa-python-client uploads objects only
                self.http.call(lambda: self.http.put_json(f"data/{endpoint}", value))
        except opa_errors().RegoParseError as exc:
            raise PolicyError(
                f"OPA at {self.url} refused data.{key}: {exc}", file=bundle.file("data.json")
            ) from None
        except OpaCallFailed as exc:
            raise PolicyError(
                f"could not upload data.{key} to OPA at {self.url}: {exc}",
                file=bundle.file("data.json"),
            ) from None

    def _delete_policies(self, bundle: Bundle, ids: list[str]) -> None:
        for policy_id in ids:
            endpoint = quote(policy_id, safe="/")

            def delete(endpoint: str = endpoint) -> Any:
                return self.http.client.delete_policy(endpoint)

            self._delete(bundle, delete, opa_errors().DeletePolicyError, f"policy {policy_id}")

    def _delete_data(self, bundle: Bundle, key: str) -> None:
        self._delete(
            bundle,
            lambda: self.http.client.delete_data(quote(key, safe="")),
            opa_errors().DeleteDataError,
            f"data.{key}",
        )

    def _delete(
        self, bundle: Bundle, delete: Callable[[], Any], refused: type[Any], what: str
    ) -> None:
        """Run ``delete``; one already gone is fine, any other failure names ``what``."""
        try:
            self.http.call(delete)
        except refused as exc:
            if exc.expression != "resource_not_found":
                raise PolicyError(
                    f"OPA at {self.url} refused to delete {what}: {exc.message}",
                    file=str(bundle.path),
                ) from None
        except OpaCallFailed as exc:
            raise PolicyError(
                f"could not delete {what} from OPA at {self.url}: {exc}", file=str(bundle.path)
            ) from None


def _compile_error(bundle: Bundle, exc: Any, upload: Upload) -> PolicyError:
    """A PolicyError at the file, line and column of OPA's first compile error in ``upload``."""
    for err in exc.errors or []:
        if not isinstance(err, dict):
            continue
        location = err.get("location") or {}
        message = str(err.get("message") or exc.message or "compile error")
        if str(location.get("file", "")) == upload.policy_id:
            row, col = location.get("row"), location.get("col")
            origin = upload.origin(row) if isinstance(row, int) else None
            if origin is None:
                return PolicyError(f"OPA: {message}", file=bundle.file(upload.lines[0][0]))
            return PolicyError(
                f"OPA: {message}",
                file=bundle.file(origin[0]),
                line=origin[1],
                column=col if isinstance(col, int) and col > 0 else None,
            )
    return PolicyError(f"OPA refused the bundle: {exc}", file=str(bundle.path))
