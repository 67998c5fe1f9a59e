"""Credential issuance and the authorization decisions, without any storage."""

from datetime import timedelta

import pytest

from bulk_import.domain.credentials import (
    Permission,
    authorize_cell_root,
    authorize_rocketchat_user,
    issue_cell_token,
    issue_rocketchat_credential,
    secret_hash,
)
from bulk_import.domain.errors import AuthenticationRequired, CredentialExpired, InvalidCredential, PermissionDenied
from bulk_import.domain.operation import utc_now


def test_issued_cell_token_stores_only_hashes():
    stored, shown = issue_cell_token("demo", root=True)
    assert stored.token_hash == secret_hash(shown.access_token)
    assert stored.cookie_peer_hash == secret_hash(shown.p_cookie_peer)
    assert shown.access_token not in repr(stored)
    assert shown.token_type == "Bearer" and shown.expires_in == 86400


def test_root_token_of_the_cell_is_authorized():
    stored, _ = issue_cell_token("demo", root=True)
    assert authorize_cell_root(stored, cell="demo") == stored


def test_unknown_token_is_invalid():
    with pytest.raises(InvalidCredential):
        authorize_cell_root(None, cell="demo")


def test_root_token_of_another_cell_lacks_privilege():
    stored, _ = issue_cell_token("other", root=True)
    with pytest.raises(PermissionDenied):
        authorize_cell_root(stored, cell="demo")


def test_non_root_token_lacks_privilege():
    stored, _ = issue_cell_token("demo", root=False)
    with pytest.raises(PermissionDenied):
        authorize_cell_root(stored, cell="demo")


def test_expired_token_is_refused_even_before_ttl_deletes_it():
    stored, _ = issue_cell_token("demo", root=True, lifetime=timedelta(seconds=1))
    with pytest.raises(CredentialExpired):
        authorize_cell_root(stored, cell="demo", now=utc_now() + timedelta(seconds=2))


def test_cookie_authentication_needs_the_issued_peer():
    stored, shown = issue_cell_token("demo", root=True)
    assert authorize_cell_root(stored, cell="demo", cookie_peer=shown.p_cookie_peer) == stored
    with pytest.raises(InvalidCredential):
        authorize_cell_root(stored, cell="demo", cookie_peer="not-the-peer")


def test_rocketchat_user_with_permission_is_authorized():
    stored, shown = issue_rocketchat_credential("rc", "aobEdbYhXfu5hkeqG", [Permission.RUN_IMPORT])
    assert authorize_rocketchat_user(stored, auth_token=shown.authToken, permission=Permission.RUN_IMPORT) == stored


@pytest.mark.parametrize("token", [None, "", "wrong"])
def test_rocketchat_wrong_or_missing_token_is_not_logged_in(token):
    stored, _ = issue_rocketchat_credential("rc", "u", [Permission.RUN_IMPORT])
    with pytest.raises(AuthenticationRequired):
        authorize_rocketchat_user(stored, auth_token=token, permission=Permission.RUN_IMPORT)


def test_rocketchat_unknown_user_is_not_logged_in():
    with pytest.raises(AuthenticationRequired):
        authorize_rocketchat_user(None, auth_token="x", permission=Permission.RUN_IMPORT)


def test_rocketchat_user_without_permission_is_denied():
    stored, shown = issue_rocketchat_credential("rc", "u", [Permission.RUN_IMPORT])
    with pytest.raises(PermissionDenied):
        authorize_rocketchat_user(stored, auth_token=shown.authToken, permission=Permission.VIEW_IMPORT_OPERATIONS)
