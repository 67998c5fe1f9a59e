"""A multipart upload's part URLs are botocore's presigned UploadPart URLs, one per part: SigV4 in
every region, each naming its part, the upload and the key, for the time asked.
tests/local/test_presigned_uploads.py uploads through them."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

import boto3
import pytest
from botocore.config import Config

from bulk_import.dal.s3 import ImportFiles, default_files

KEY = "uploads/cell/0a1b/big file+(1)ü.jsonl"
UPLOAD_ID = "2~Ab/cd+ef="


def files_of(region: str = "us-east-1", **options) -> ImportFiles:
    session = boto3.session.Session(
        aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="wJalr/XUtnFEMI+K7MDENG", region_name=region
    )
    return ImportFiles("import-bucket", session.client("s3", config=Config(signature_version="s3v4"), **options))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


@pytest.mark.parametrize(
    ("region", "options", "host"),
    [
        ("us-east-1", {}, None),
        ("eu-central-1", {}, None),
        ("us-east-1", {"endpoint_url": "http://127.0.0.1:3001"}, "127.0.0.1:3001"),
    ],
    ids=["us-east-1", "eu-central-1", "local-endpoint"],
)
def test_each_part_has_its_own_sigv4_url_naming_the_part_the_upload_and_the_key(region, options, host):
    urls = files_of(region, **options).presigned_parts(KEY, UPLOAD_ID, 12, 3600)
    assert len(urls) == 12
    for number, url in enumerate(urls, start=1):
        parts, query = urlsplit(url), query_of(url)
        assert parts.netloc == host if host else parts.netloc.startswith("import-bucket.s3.")
        assert unquote(parts.path).endswith(KEY)
        assert (query["partNumber"], query["uploadId"]) == (str(number), UPLOAD_ID)
        assert (query["X-Amz-Algorithm"], query["X-Amz-Expires"]) == ("AWS4-HMAC-SHA256", "3600")
        assert query["X-Amz-Credential"].split("/")[2:] == [region, "s3", "aws4_request"]
        assert query["X-Amz-SignedHeaders"] == "host"
    assert len({query_of(url)["X-Amz-Signature"] for url in urls}) == 12


def test_the_functions_presign_with_sigv4(moto_aws):
    # botocore presigns S3 URLs with SigV2 unless told, which the regions opened since 2014 refuse.
    files = default_files()
    urls = [
        files.presigned_put(KEY, 60),
        files.presigned_get(KEY, 60, "big.jsonl"),
        *files.presigned_parts(KEY, UPLOAD_ID, 2, 60),
    ]
    assert [query_of(url).get("X-Amz-Algorithm") for url in urls] == ["AWS4-HMAC-SHA256"] * 4
