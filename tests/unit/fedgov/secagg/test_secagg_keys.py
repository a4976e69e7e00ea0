"""Attacks on the key exchange: the aggregator relays every public key and ciphertext,
so it tries to substitute, replay, misaddress or forge them; each peer must refuse and
name the silo whose material is bad."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519
from support.pki import named_only
from support.secagg_rounds import params_for, silo_round

from fedgov.identity import silo_uri
from fedgov.secagg import Advert, RoundParams, SecAggError, SiloRound, verify_adverts
from fedgov.secagg._verify import sign_advert
from fedgov.tls import init_trial_pki, issue_certificate, load_ca


def _fresh_pk() -> bytes:
    return x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()


def _advertised(pki: Path, params: RoundParams) -> tuple[dict[str, SiloRound], list[Advert]]:
    silos = {s: silo_round(pki, params, s) for s in params.cohort}
    return silos, [r.advertise() for r in silos.values()]


def _swap(adverts: list[Advert], silo: str, new: Advert) -> list[Advert]:
    return [new if a.silo_id == silo else a for a in adverts]


def _refused_by_all(silos: dict[str, SiloRound], adverts: list[Advert], culprit: str) -> list[str]:
    messages = []
    for r in silos.values():
        with pytest.raises(SecAggError, match=f"silo '{culprit}'") as info:
            r.share_keys(adverts)
        messages.append(str(info.value))
    return messages


@pytest.mark.parametrize("field", ["s_pk", "c_pk"])
def test_substituted_public_key_is_detected_by_every_peer(pki4: Path, field: str) -> None:
    params = params_for(4, 3, 16)
    silos, adverts = _advertised(pki4, params)
    forged = replace(next(a for a in adverts if a.silo_id == "S02"), **{field: _fresh_pk()})
    messages = _refused_by_all(silos, _swap(adverts, "S02", forged), "S02")
    assert all("signature does not verify" in m for m in messages)


def _cert_files(pki: Path, signer: str) -> tuple[bytes, bytes]:
    if signer == "named-only":  # CN says S02, no fedgov://silo SAN
        files = named_only(pki, "S02")
        return files.cert.read_bytes(), files.key.read_bytes()
    return (pki / f"{signer}.pem").read_bytes(), (pki / f"{signer}.key").read_bytes()


@pytest.mark.parametrize(
    ("signer", "words"),
    [
        ("aggregator", "not silo 'S02'"),  # the relay re-signs with its own certificate
        ("S03", "names silo 'S03'"),  # a colluding silo signs in S02's name
        ("named-only", "no fedgov role"),  # a certificate from the CA without a silo SAN
    ],
)
def test_keys_signed_under_a_certificate_that_is_not_s02s_are_refused(
    pki4: Path, signer: str, words: str
) -> None:
    params = params_for(4, 3, 16)
    silos, adverts = _advertised(pki4, params)
    pem, key_pem = _cert_files(pki4, signer)
    key = serialization.load_pem_private_key(key_pem, None)
    forged = sign_advert(params, "S02", key, pem, _fresh_pk(), _fresh_pk())  # type: ignore[arg-type]
    messages = _refused_by_all(silos, _swap(adverts, "S02", forged), "S02")
    assert all(words in m for m in messages), messages[0]


def test_certificate_from_another_ca_is_refused(pki4: Path, tmp_path: Path) -> None:
    params = params_for(4, 3, 16)
    silos, adverts = _advertised(pki4, params)
    other = tmp_path / "other"
    init_trial_pki(other, {"S02": None})
    rogue = SiloRound(
        params,
        "S02",
        (other / "S02.key").read_bytes(),
        (other / "S02.pem").read_bytes(),
        (other / "ca.pem").read_bytes(),
    )
    relayed = _swap(adverts, "S02", rogue.advertise())
    messages = _refused_by_all({s: r for s, r in silos.items() if s != "S02"}, relayed, "S02")
    assert all("not issued by the CA" in m for m in messages)


def test_expired_certificate_is_refused(pki4: Path, tmp_path: Path) -> None:
    params = params_for(4, 3, 16)
    silos, adverts = _advertised(pki4, params)
    ca_cert, ca_key = load_ca(pki4)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    cert, key = issue_certificate(
        ca_cert, ca_key, "S02", tmp_path, uris=[silo_uri("S02")], days=30, not_before=start
    )
    old = SiloRound(params, "S02", key.read_bytes(), cert.read_bytes(), b"")
    relayed = _swap(adverts, "S02", old.advertise())
    messages = _refused_by_all({s: r for s, r in silos.items() if s != "S02"}, relayed, "S02")
    assert all("validity period" in m for m in messages)
    # a certificate not yet valid is refused too; a current one from the same CA is not
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    cert, key = issue_certificate(
        ca_cert, ca_key, "S02", tmp_path, uris=[silo_uri("S02")], days=30, not_before=future
    )
    early = SiloRound(params, "S02", key.read_bytes(), cert.read_bytes(), b"")
    with pytest.raises(SecAggError, match="validity period"):
        verify_adverts(
            params, _swap(adverts, "S02", early.advertise()), (pki4 / "ca.pem").read_bytes()
        )
    assert set(verify_adverts(params, adverts, (pki4 / "ca.pem").read_bytes())) == set(silos)


def test_advert_replayed_from_another_round_is_refused(pki4: Path) -> None:
    params, earlier = params_for(4, 3, 16), params_for(4, 3, 16)
    silos, adverts = _advertised(pki4, params)
    old = silo_round(pki4, earlier, "S02").advertise()
    _refused_by_all(silos, _swap(adverts, "S02", old), "S02")


def test_relayed_list_shape_is_checked(pki4: Path, tmp_path: Path) -> None:
    params = params_for(4, 3, 16)
    silos, adverts = _advertised(pki4, params)
    me = silos["S01"]
    with pytest.raises(SecAggError, match="'S02' is advertised twice"):
        me.share_keys([*adverts, adverts[1]])
    with pytest.raises(SecAggError, match="own advert is missing"):
        me.share_keys(adverts[1:])
    with pytest.raises(SecAggError, match="fewer than the threshold 3"):
        me.share_keys(adverts[:2])
    outsider = tmp_path / "outsider"
    init_trial_pki(outsider, {"S09": None})
    wider = params_for(9, 3, 16, round_id=params.round_id)
    with pytest.raises(SecAggError, match="'S09' is not in the cohort"):
        me.share_keys([*adverts, silo_round(outsider, wider, "S09").advertise()])
    for key_of, cert_of, words in [
        ("S02", "S02", "certificate given names"),
        ("S02", "S01", "not belong"),
    ]:
        key, cert = (pki4 / f"{key_of}.key").read_bytes(), (pki4 / f"{cert_of}.pem").read_bytes()
        with pytest.raises(SecAggError, match=words):
            SiloRound(params, "S01", key, cert, b"")


def _shared(
    pki: Path, params: RoundParams
) -> tuple[dict[str, SiloRound], dict[str, dict[str, bytes]]]:
    silos, adverts = _advertised(pki, params)
    return silos, {s: r.share_keys(adverts) for s, r in silos.items()}


def _inbound(boxes: dict[str, dict[str, bytes]], dst: str) -> dict[str, bytes]:
    return {src: out[dst] for src, out in boxes.items() if src != dst}


def test_tampered_misaddressed_or_replayed_ciphertexts_are_refused(pki4: Path) -> None:
    params = params_for(4, 3, 16)
    silos, boxes = _shared(pki4, params)
    x = np.zeros(16, np.uint64)
    inbound = _inbound(boxes, "S01")
    flipped = bytearray(inbound["S02"])
    flipped[-1] ^= 1
    cases = [
        ({**inbound, "S02": bytes(flipped)}, "S02"),
        ({**inbound, "S02": boxes["S02"]["S03"]}, "S02"),  # S02's box to S03, sent to S01
        ({**inbound, "S03": boxes["S02"]["S01"]}, "S03"),  # S02's box, claimed from S03
    ]
    _, older = _shared(pki4, params_for(4, 3, 16))
    cases.append(({**inbound, "S04": older["S04"]["S01"]}, "S04"))  # from another round
    for relayed, culprit in cases:
        with pytest.raises(SecAggError, match=f"from silo '{culprit}' do not authenticate"):
            silos["S01"].masked_input(x, relayed)
    assert len(silos["S01"].masked_input(x, inbound)) == 8 * 16  # failures left no state


def test_each_stage_runs_once_and_in_order(pki4: Path) -> None:
    params = params_for(4, 3, 16)
    silos, boxes = _shared(pki4, params)
    me = silos["S01"]
    assert me.advertise() == me.advertise()  # the same keys if asked again
    with pytest.raises(SecAggError, match="stage"):
        me.share_keys([r.advertise() for r in silos.values()])
    with pytest.raises(SecAggError, match="stage"):
        me.unmask(list(params.cohort), [])
    x = np.arange(16, dtype=np.uint64)
    me.masked_input(x, _inbound(boxes, "S01"))
    with pytest.raises(SecAggError, match="stage"):  # a 2nd vector would leak x1 - x2
        me.masked_input(x + np.uint64(1), _inbound(boxes, "S01"))
    fresh = silo_round(pki4, params, "S01")
    with pytest.raises(SecAggError, match="stage"):
        fresh.masked_input(x, {})
