"""Personium request handling: X-Override, credentials from header or cookie, the import's body."""

import json

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from bulk_import.api.personium import (
    InvalidAuthenticationScheme,
    PersoniumCredential,
    PersoniumRequestError,
    apply_header_overrides,
)
from bulk_import.api.personium_requests import cell_import_request


def event(headers=None, multi=None, query=None):
    return {"headers": headers, "multiValueHeaders": multi, "queryStringParameters": query}


def test_override_replaces_a_header_whatever_its_case():
    overridden = apply_header_overrides(
        event(
            {"authorization": "Bearer old", "X-Override": "Authorization: Bearer new"},
            {"authorization": ["Bearer old"], "X-Override": ["Authorization: Bearer new"]},
        )
    )
    assert APIGatewayProxyEvent(overridden).headers["Authorization"] == "Bearer new"
    assert "authorization" not in overridden["multiValueHeaders"]


def test_several_overrides_each_apply():
    overridden = apply_header_overrides(event({"X-Override": "B: 2"}, {"X-Override": ["A: 1", "B: 2"]}))
    assert overridden["headers"]["A"] == "1" and overridden["headers"]["B"] == "2"


def test_override_without_a_colon_is_ignored():
    original = event({"X-Override": "nonsense"}, {"X-Override": ["nonsense"]})
    assert apply_header_overrides(original)["headers"] == {"X-Override": "nonsense"}


def test_override_value_may_contain_colons():
    overridden = apply_header_overrides(event({"X-Override": "Origin: https://a.example:8443"}, None))
    assert overridden["headers"]["Origin"] == "https://a.example:8443"


def test_event_without_override_is_returned_unchanged():
    original = event({"Authorization": "Bearer t"}, {"Authorization": ["Bearer t"]})
    assert apply_header_overrides(original) is original


def test_bearer_token_is_read_from_authorization():
    credential = PersoniumCredential.of(APIGatewayProxyEvent(event({"Authorization": "Bearer abc"})))
    assert credential == PersoniumCredential(token="abc")


def test_other_schemes_are_refused():
    with pytest.raises(InvalidAuthenticationScheme):
        PersoniumCredential.of(APIGatewayProxyEvent(event({"Authorization": "Basic dXNlcjpwdw=="})))


def test_cookie_token_is_used_with_p_cookie_peer_when_no_authorization():
    request = event({"Cookie": "a=1; p_cookie=tok"}, None, {"p_cookie_peer": "peer"})
    assert PersoniumCredential.of(APIGatewayProxyEvent(request)) == PersoniumCredential(token="tok", cookie_peer="peer")


def test_cookie_is_ignored_without_p_cookie_peer():
    request = event({"Cookie": "p_cookie=tok"}, None, None)
    assert PersoniumCredential.of(APIGatewayProxyEvent(request)) == PersoniumCredential(token=None)


def test_authorization_wins_over_cookie():
    request = event({"Authorization": "Bearer hdr", "Cookie": "p_cookie=tok"}, None, {"p_cookie_peer": "peer"})
    assert PersoniumCredential.of(APIGatewayProxyEvent(request)).token == "hdr"


@pytest.mark.parametrize(
    "body", ['{"Name": "CellExport_2017-01"}', ' {"Name":"a", "Other": 1} ', '{"Name": "' + "x" * 192 + '"}']
)
def test_an_import_body_names_its_snapshot(body):
    assert cell_import_request(body).Name == json.loads(body)["Name"]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        # ResourceUtils.parseBodyAsJSON: the body itself is the message's parameter
        ("{Name: snap", "PR400-CM-0004", "JSON parse error. [{Name: snap]."),
        ("", "PR400-CM-0004", "JSON parse error. []."),
        (None, "PR400-CM-0004", "JSON parse error. []."),
        ('["snap"]', "PR400-CM-0004", 'JSON parse error. [["snap"]].'),
        ('{"Name": NaN}', "PR400-CM-0004", 'JSON parse error. [{"Name": NaN}].'),
        (
            '{"Name": "snap", "Size": Infinity}',
            "PR400-CM-0004",
            'JSON parse error. [{"Name": "snap", "Size": Infinity}].',
        ),
        ("{}", "PR400-CM-0001", "Required key [Name] missing."),
        ('{"Name": null}', "PR400-CM-0001", "Required key [Name] missing."),
        ('{"Name": ""}', "PR400-CM-0002", "Field [Name] format error. Must be [^[a-zA-Z0-9-_]{1,192}$]."),
        ('{"Name": "a.b"}', "PR400-CM-0002", "Field [Name] format error. Must be [^[a-zA-Z0-9-_]{1,192}$]."),
        ('{"Name": "snap\\n"}', "PR400-CM-0002", "Field [Name] format error. Must be [^[a-zA-Z0-9-_]{1,192}$]."),
        ('{"Name": 5}', "PR400-CM-0002", "Field [Name] format error. Must be [^[a-zA-Z0-9-_]{1,192}$]."),
        ('{"Name": ["snap"]}', "PR400-CM-0002", "Field [Name] format error. Must be [^[a-zA-Z0-9-_]{1,192}$]."),
        ('{"Name": "sn\u00e1p"}', "PR400-CM-0002", "Field [Name] format error. Must be [^[a-zA-Z0-9-_]{1,192}$]."),
        (
            '{"Name": "' + "x" * 193 + '"}',
            "PR400-CM-0002",
            "Field [Name] format error. Must be [^[a-zA-Z0-9-_]{1,192}$].",
        ),
    ],
)
def test_an_import_body_is_refused_as_personium_refuses_it(body, code, message):
    with pytest.raises(PersoniumRequestError) as refused:
        cell_import_request(body)
    assert (refused.value.code.code, str(refused.value)) == (code, message)
