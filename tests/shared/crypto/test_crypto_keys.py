"""Key sources: the local keyset file's safety rules, and the keyed pseudonyms."""

from __future__ import annotations

import os
import stat

import pytest

from shared.keys.base import UnwrapFailed
from shared.keys.local import InsecureKeysetFile, LocalKeysetKek
from shared.pseudonym import is_pseudonym, pseudonymise

NAME = "LOCAL-DEV-ONLY-kek.keyset.json"


def test_local_keyset_is_created_0600_and_reused(tmp_path):
    path = tmp_path / "data" / NAME
    first = LocalKeysetKek(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.key_uri == "local-keyset://" + NAME
    wrapped = first.wrap(b"k" * 32, b"aad")
    assert LocalKeysetKek(path).unwrap(wrapped, b"aad") == b"k" * 32  # same key next start


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_local_keyset_readable_by_others_is_refused(tmp_path, mode):
    path = tmp_path / NAME
    LocalKeysetKek(path)
    os.chmod(path, mode)
    with pytest.raises(InsecureKeysetFile, match="chmod 600"):
        LocalKeysetKek(path)


def test_local_keyset_is_refused_on_cloud_run(tmp_path, monkeypatch):
    monkeypatch.setenv("K_SERVICE", "process-changes")
    with pytest.raises(InsecureKeysetFile, match="HYBRIDCAL_KMS_KEY"):
        LocalKeysetKek(tmp_path / NAME)
    assert not (tmp_path / NAME).exists()


def test_local_unwrap_with_wrong_associated_data_fails_cleanly(tmp_path):
    kek = LocalKeysetKek(tmp_path / NAME)
    wrapped = kek.wrap(b"k" * 32, b"user-a")
    with pytest.raises(UnwrapFailed):
        kek.unwrap(wrapped, b"user-b")
    with pytest.raises(UnwrapFailed):
        kek.unwrap(wrapped[:-1], b"user-a")


def test_pseudonyms_are_stable_keyed_and_case_insensitive():
    one = pseudonymise("Ann@Example.com ", b"key-1")
    assert one == pseudonymise("ann@example.com", "key-1")
    assert one != pseudonymise("ann@example.com", b"key-2")
    assert one != pseudonymise("bob@example.com", b"key-1")
    assert is_pseudonym(one) and len(one) == 22
    assert "ann" not in one and not is_pseudonym("ann@example.com")
    with pytest.raises(ValueError, match="HYBRIDCAL_PSEUDONYM_KEY"):
        pseudonymise("ann@example.com", b"")


def test_pseudonyms_match_the_runtime_wiring():
    from shared.runtime import pseudonymise as runtime_pseudonymise

    assert pseudonymise("ann@example.com", "k") == runtime_pseudonymise("ann@example.com", "k")
