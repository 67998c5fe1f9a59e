"""A multipart upload's part URLs (part_urls.py) are botocore's presigned URLs, parameter for
parameter and signature for signature, whatever the region, endpoint, key or credentials; where
they could differ, botocore signs every part."""

from __future__ import annotations

import datetime
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from botocore.config import Config

from bulk_import.dal.s3 import ImportFiles

AT = datetime.datetime(2026, 11, 30, 23, 59, 59)


def files_of(signature_version: str | None = "s3v4", secret: str = "wJalr/XUtnFEMI+K7MDENG", **options) -> ImportFiles:
    session = boto3.session.Session(
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key=secret,
        aws_session_token=options.pop("token", None),
        region_name=options.pop("region", "us-east-1"),
    )
    config = Config(signature_version=signature_version, s3=options.pop("s3", None))
    client = session.client("s3", config=config, **options)
    return ImportFiles("import-bucket", client, session.get_credentials())


def parsed(url: str) -> tuple[str, list[tuple[str, str]]]:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", sorted(parse_qsl(parts.query, keep_blank_values=True))


def both_ways(
    files: ImportFiles,
    key: str = "uploads/cell/0a1b/big file+(1).jsonl",
    count: int = 12,
    multipart_id: str = "2~Ab/cd+ef=",
) -> tuple[list[str], list[str], int]:
    """presigned_parts, botocore's URL of each part, and how many of presigned_parts' URLs botocore signed."""
    with mock.patch("botocore.auth.get_current_datetime", return_value=AT):
        with mock.patch.object(files, "presigned_part", wraps=files.presigned_part) as botocore_signed:
            fast = files.presigned_parts(key, multipart_id, count, 3600)
        botocore = [files.presigned_part(key, multipart_id, number, 3600) for number in range(1, count + 1)]
    return fast, botocore, botocore_signed.call_count


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"region": "eu-central-1"},
        {"region": "ap-southeast-2", "token": "FwoGZXIvYXdzE/session+token=="},
        {"endpoint_url": "http://127.0.0.1:3001"},
        {"endpoint_url": "https://s3.example.com:8443", "s3": {"addressing_style": "path"}},
        {"s3": {"addressing_style": "virtual"}, "region": "us-west-2"},
    ],
    ids=["default", "eu-central-1", "session-token", "local-endpoint", "custom-port-path-style", "virtual-host"],
)
def test_every_part_url_is_the_one_botocore_presigns(options):
    fast, botocore, botocore_signed = both_ways(files_of(**options))
    assert botocore_signed == 1  # part 1; part_urls signed the 11 others
    assert [parsed(url) for url in fast] == [parsed(url) for url in botocore]
    assert len({dict(parsed(url)[1])["X-Amz-Signature"] for url in fast}) == 12  # one per part


def test_a_key_of_any_characters_is_signed_as_botocore_signs_it():
    fast, botocore, botocore_signed = both_ways(
        files_of(), key="uploads/cell/0a1b/ünïcode ~!$&'()*;=@,%.jsonl", count=3
    )
    assert botocore_signed == 1 and [parsed(url) for url in fast] == [parsed(url) for url in botocore]


@pytest.mark.parametrize(
    "files",
    [
        files_of(signature_version=None),  # botocore's default for S3: SigV2, which this code does not sign
        ImportFiles("import-bucket", files_of().client, None),  # no credentials known
        ImportFiles(
            "import-bucket", files_of().client, files_of(secret="another secret").credentials
        ),  # not the client's
    ],
    ids=["sigv2", "no-credentials", "other-credentials"],
)
def test_where_part_1_would_differ_botocore_presigns_every_part(files):
    fast, botocore, botocore_signed = both_ways(files, count=4)
    assert botocore_signed == 4 and fast == botocore
