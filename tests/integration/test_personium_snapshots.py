"""Personium's __snapshot collection through its handler on moto, each request as a Personium client
sends it and each answer checked against personium-core's: PUT (201/204, ETag, If-Match), GET (bytes,
304, Range), DELETE, PROPFIND (207, Depth), OPTIONS, REPORT, the methods it does not implement, what
is looked at before the caller's rights, and the cell's lock while an import runs."""

from __future__ import annotations

import base64
import random
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

from bulk_import.dal.s3 import default_files, snapshot_key
from bulk_import.dal.snapshot_files import SnapshotChanged, SnapshotFiles
from bulk_import.domain.operation import ProgressStep, new_operation_id, utc_now
from bulk_import.domain.snapshot_files import new_snapshot_file
from bulk_import.logic.imports.errors import ETagMismatch
from bulk_import.logic.imports.snapshots import snapshot_importer
from bulk_import.logic.snapshot_files import write_snapshot_file
from bulk_import.readers.personium_snapshot import MANIFEST, ODATA_DIR
from bulk_import_cli import demo
from tests.support.events import api_event
from tests.support.personium_exports import CellExport

IDLE, BUSY = demo.OTHER_CELL, demo.DEMO_CELL  # the demo's idle cell, and its cell with an import running
TOKENS = {IDLE: demo.OTHER_CELL_ROOT_TOKEN, BUSY: demo.ROOT_TOKEN}
DAV = "{DAV:}"
ZIP = b"PK\x03\x04" + bytes(range(256)) * 4  # 1,028 bytes


@pytest.fixture
def seeded_cells(store, function_environment):
    demo.seed_demo(store, function_environment["ROCKETCHAT_CELL"], default_files())


def call(invoke, method, cell, path="", *, token=True, headers=None, body=None):
    event = api_event(method, f"/{cell}/__snapshot{path}", TOKENS[cell] if token else None, headers=headers)
    if isinstance(body, bytes):
        event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    elif body is not None:
        event["body"] = body
    return invoke("PersoniumImportFunction", event)


def header(result, name):
    return (result.headers.get(name) or [None])[0]


def put(invoke, name, body=ZIP, cell=IDLE, **headers):
    return call(invoke, "PUT", cell, f"/{name}", headers={"Content-Type": "application/zip", **headers}, body=body)


def personium_error(result):
    assert header(result, "Content-Type") == "application/json", (result.status, result.headers, result.body)
    return result.status, result.body["code"], result.body["message"]["value"]


def test_a_put_creates_then_replaces_with_personiums_etags(seeded_cells, invoke):
    created = put(invoke, "s.zip")
    assert created.status == 201 and created.body is None
    assert re.fullmatch(r'"1-\d{13}"', header(created, "ETag"))
    assert header(created, "Location").endswith(f"/{IDLE}/__snapshot/s.zip")

    replaced = put(invoke, "s.zip", body=b"PK-2")
    assert replaced.status == 204 and re.fullmatch(r'"2-\d{13}"', header(replaced, "ETag"))
    assert header(replaced, "Location") is None
    (stored,) = [file for file in SnapshotFiles(default_files()).all(IDLE) if file.name == "s.zip"]
    assert (stored.version, stored.size, stored.etag) == (2, 4, header(replaced, "ETag"))


def test_a_put_with_another_versions_if_match_is_refused_and_changes_nothing(seeded_cells, invoke):
    etag = header(put(invoke, "s.zip"), "ETag")
    refused = put(invoke, "s.zip", body=b"PK-other", **{"If-Match": '"7-1"'})
    assert personium_error(refused) == (412, "PR412-DV-0001", "ETag does not match.")
    assert call(invoke, "GET", IDLE, "/s.zip", headers={"Accept": "application/zip"}).body == _b64(ZIP)
    for accepted in (lambda tag: tag, lambda tag: f"W/{tag}", lambda tag: "*"):
        replaced = put(invoke, "s.zip", **{"If-Match": accepted(etag)})
        assert replaced.status == 204
        etag = header(replaced, "ETag")


def test_a_write_that_loses_a_race_reads_again_and_if_match_refuses_the_replaced_version(seeded_cells):
    """Another write lands between a write's read and its own: the write is conditional on what it
    read, so it reads again; an If-Match naming the version it read is then refused."""
    files = SnapshotFiles(default_files())
    write_snapshot_file(files, IDLE, "raced.zip", b"one", "application/zip", None)

    class Racing(SnapshotFiles):
        raced = False

        def find(self, cell, name):
            found = super().find(cell, name)
            if not Racing.raced:  # the other writer lands right after this read
                Racing.raced = True
                write_snapshot_file(files, cell, name, b"two", "application/zip", None)
            return found

    written, created = write_snapshot_file(Racing(default_files()), IDLE, "raced.zip", b"three", "text/plain", None)
    assert (created, written.version) == (False, 3)
    Racing.raced = False
    with pytest.raises(ETagMismatch):
        write_snapshot_file(Racing(default_files()), IDLE, "raced.zip", b"four", "text/plain", written.etag)
    assert files.find(IDLE, "raced.zip").version == 4  # the racing writer's, not the refused one


def test_two_creates_of_one_name_make_one_file_and_one_update(seeded_cells):
    files = SnapshotFiles(default_files())
    file = new_snapshot_file("twice.zip", 3, "application/zip", utc_now())
    files.write(IDLE, file, b"one", replaces=None)
    with pytest.raises(SnapshotChanged):
        files.write(IDLE, file, b"two", replaces=None)  # S3 refuses the second create (If-None-Match: *)


def test_a_get_answers_the_bytes_with_their_type_and_etag(seeded_cells, invoke):
    etag = header(put(invoke, "s.zip"), "ETag")
    got = call(invoke, "GET", IDLE, "/s.zip", headers={"Accept": "application/zip"})
    assert (got.status, got.body) == (200, _b64(ZIP))
    assert (header(got, "Content-Type"), header(got, "ETag"), header(got, "Accept-Ranges")) == (
        "application/zip",
        etag,
        "bytes",
    )
    for same in (etag, f"W/{etag}"):
        unchanged = call(invoke, "GET", IDLE, "/s.zip", headers={"Accept": "application/zip", "If-None-Match": same})
        assert (unchanged.status, unchanged.body, header(unchanged, "ETag")) == (304, None, etag)


@pytest.mark.parametrize(
    ("range_header", "status", "expected"),
    [
        ("bytes=2-5", 206, (2, 5)),
        ("bytes=-3", 206, (1025, 1027)),
        ("bytes=1000-", 206, (1000, 1027)),
        ("bytes=1020-5000", 206, (1020, 1027)),
        ("bytes = 0-0", 206, (0, 0)),
        ("bytes=5-2", 200, None),  # a spec Personium does not read: the whole file
        ("bytes=2000-", 200, None),  # its end is the file's, before its start: not read either
        ("bytes=a-b", 200, None),
        ("items=0-5", 200, None),
    ],
)
def test_a_range_is_read_as_personium_reads_it(seeded_cells, invoke, range_header, status, expected):
    put(invoke, "s.zip")
    got = call(invoke, "GET", IDLE, "/s.zip", headers={"Accept": "application/zip", "Range": range_header})
    assert got.status == status
    if expected is None:
        assert got.body == _b64(ZIP) and header(got, "Content-Range") is None
    else:
        first, last = expected
        assert got.body == _b64(ZIP[first : last + 1])
        assert header(got, "Content-Range") == f"bytes {first}-{last}/{len(ZIP)}"


def test_a_range_that_starts_past_the_end_is_416_and_several_ranges_501(seeded_cells, invoke):
    put(invoke, "s.zip")
    past = call(invoke, "GET", IDLE, "/s.zip", headers={"Accept": "application/zip", "Range": "bytes=2000-3000"})
    assert personium_error(past) == (416, "PR416-DV-0001", "Requested range not satisfiable.")
    several = call(invoke, "GET", IDLE, "/s.zip", headers={"Accept": "application/zip", "Range": "bytes=0-1,5-6"})
    assert personium_error(several) == (501, "PR501-MC-0002", "Not implemented. [Range-MultiPart].")


def test_a_get_api_gateway_would_not_answer_with_bytes_is_redirected_to_them(seeded_cells, invoke, monkeypatch):
    """For an Accept that is not one of the API's binary media types (curl's */*), and for a file
    larger than an answer carries: a 307 to a presigned S3 URL that serves the bytes and their type."""
    etag = header(put(invoke, "s.zip"), "ETag")
    for accept in ("*/*", None):
        redirected = call(invoke, "GET", IDLE, "/s.zip", headers={"Accept": accept} if accept else {"Accept": ""})
        assert (redirected.status, header(redirected, "ETag")) == (307, etag)
        query = parse_qs(urlsplit(header(redirected, "Location")).query)
        assert query["response-content-type"] == ["application/zip"] and "X-Amz-Signature" in query


def test_a_delete_removes_the_file(seeded_cells, invoke):
    put(invoke, "s.zip")
    deleted = call(invoke, "DELETE", IDLE, "/s.zip")
    assert (deleted.status, deleted.body) == (204, None)
    gone = call(invoke, "GET", IDLE, "/s.zip", headers={"Accept": "application/zip"})
    assert gone.status == 404 and gone.body["code"] == "PR404-DV-0001"


def test_a_delete_checks_if_match(seeded_cells, invoke):
    etag = header(put(invoke, "s.zip"), "ETag")
    refused = call(invoke, "DELETE", IDLE, "/s.zip", headers={"If-Match": '"1-0"'})
    assert personium_error(refused) == (412, "PR412-DV-0001", "ETag does not match.")
    assert call(invoke, "DELETE", IDLE, "/s.zip", headers={"If-Match": etag}).status == 204


@pytest.mark.parametrize("method", ["GET", "DELETE", "PROPFIND", "OPTIONS"])
def test_a_missing_file_is_reported_before_the_callers_rights(seeded_cells, invoke, method):
    missing = call(invoke, method, IDLE, "/never.zip", token=False, headers={"Depth": "0", "Authorization": "Bearer x"})
    assert missing.status == 404
    assert missing.body["code"] == "PR404-DV-0001"
    assert missing.body["message"]["value"].endswith(f"/{IDLE}/__snapshot/never.zip].")


def test_a_put_checks_the_callers_rights_first_and_a_401_names_the_bearer_realm(seeded_cells, invoke):
    refused = call(invoke, "PUT", IDLE, "/s.zip", token=False, body=ZIP)
    assert personium_error(refused) == (401, "PR401-AU-0001", "Authorization required.")
    assert re.fullmatch(rf'Bearer realm="https://[^/]+/dev/{IDLE}/"', header(refused, "WWW-Authenticate"))


def test_a_propfind_of_a_file_is_a_multistatus_of_its_properties(seeded_cells, invoke):
    etag = header(put(invoke, "s.zip"), "ETag")
    found = call(invoke, "PROPFIND", IDLE, "/s.zip", headers={"Depth": "0"})
    assert (found.status, header(found, "Content-Type"), header(found, "ETag")) == (207, "application/xml", etag)
    (response,) = ET.fromstring(found.body).findall(f"{DAV}response")
    assert response.findtext(f"{DAV}href").endswith(f"/{IDLE}/__snapshot/s.zip")
    prop = response.find(f"{DAV}propstat/{DAV}prop")
    assert prop.findtext(f"{DAV}getcontentlength") == str(len(ZIP))
    assert prop.findtext(f"{DAV}getcontenttype") == "application/zip"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", prop.findtext(f"{DAV}creationdate"))
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", prop.findtext(f"{DAV}getlastmodified"))
    assert list(prop.find(f"{DAV}resourcetype")) == []  # a file, not a collection
    assert response.findtext(f"{DAV}propstat/{DAV}status") == "HTTP/1.1 200 OK"


def test_a_propfind_of_the_collection_lists_its_files_at_depth_one(seeded_cells, invoke):
    put(invoke, "a.zip")
    put(invoke, "notes.txt", body=b"any name, any type", **{"Content-Type": "text/plain"})
    shallow = ET.fromstring(call(invoke, "PROPFIND", IDLE, headers={"Depth": "0"}).body).findall(f"{DAV}response")
    deep = call(invoke, "PROPFIND", IDLE, headers={"Depth": "1"}, body="")
    responses = ET.fromstring(deep.body).findall(f"{DAV}response")
    assert len(shallow) == 1 and shallow[0].find(f".//{DAV}resourcetype/{DAV}collection") is not None
    assert shallow[0].findtext(".//{urn:x-personium:xmlns}cellstatus") == "normal"
    hrefs = [response.findtext(f"{DAV}href").rsplit("/__snapshot", 1)[1] for response in responses]
    assert hrefs == ["", "/a.zip", f"/{demo.SAMPLE_SNAPSHOT}.zip", "/notes.txt"]
    assert responses[3].findtext(f".//{DAV}getcontenttype") == "text/plain"


@pytest.mark.parametrize(
    ("depth", "status", "code", "message"),
    [
        (None, 400, "PR400-DV-0003", "Invalid depth header value:[null]."),
        ("2", 400, "PR400-DV-0003", "Invalid depth header value:[2]."),
        ("infinity", 403, "PR403-DV-0001", "Infinite depth is not supported."),
    ],
)
def test_a_propfind_needs_depth_zero_or_one(seeded_cells, invoke, depth, status, code, message):
    refused = call(invoke, "PROPFIND", IDLE, headers={"Depth": depth} if depth else {})
    assert personium_error(refused) == (status, code, message)


@pytest.mark.parametrize("body", ["<D:propfind xmlns:D='DAV:'><D:allprop/>", "<propname/>", "not xml"])
def test_a_propfind_body_must_be_a_propfind(seeded_cells, invoke, body):
    refused = call(invoke, "PROPFIND", IDLE, headers={"Depth": "1"}, body=body)
    assert personium_error(refused) == (400, "PR400-DV-0001", "XML parse error.")


def test_options_report_and_the_methods_a_snapshot_resource_does_not_implement(seeded_cells, invoke):
    put(invoke, "s.zip")
    collection = call(invoke, "OPTIONS", IDLE)
    assert (collection.status, header(collection, "Allow")) == (200, "OPTIONS, PROPFIND")
    file = call(invoke, "OPTIONS", IDLE, "/s.zip")
    assert (file.status, header(file, "Allow")) == (200, "OPTIONS, GET, PUT, DELETE, PROPFIND")
    report = call(invoke, "REPORT", IDLE, "/s.zip", token=False)
    assert personium_error(report) == (501, "PR501-MC-0001", "Method not implemented.")
    for method, path in (("MKCOL", "/s.zip"), ("POST", "/s.zip"), ("GET", ""), ("PUT", ""), ("DELETE", "")):
        refused = call(invoke, method, IDLE, path)
        assert personium_error(refused) == (405, "PR405-MC-0001", "Method not allowed."), (method, path)


def test_writes_to_a_cell_being_imported_are_refused_before_the_callers_rights(seeded_cells, invoke):
    """Personium's cell lock (its WriteMethodFilter): PUT, DELETE and a second import get 409, even
    from a caller without a token; reads pass."""
    locked = (409, "PR409-CM-0002", "Because [cell import] is being executed, writing to cell can not be done.")
    assert personium_error(call(invoke, "PUT", BUSY, "/s.zip", token=False, body=ZIP)) == locked
    assert personium_error(call(invoke, "DELETE", BUSY, "/s.zip", token=False)) == locked
    second = api_event("POST", f"/{BUSY}/__import", None, body={"Name": "s"})
    assert personium_error(invoke("PersoniumImportFunction", second)) == locked
    assert call(invoke, "PROPFIND", BUSY, headers={"Depth": "1"}).status == 207


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_post_with_x_http_method_override_is_served_as_that_method(seeded_cells, invoke):
    put(invoke, "s.zip")
    listed = call(invoke, "POST", IDLE, headers={"X-HTTP-Method-Override": "PROPFIND", "Depth": "1"})
    assert listed.status == 207 and listed.body.count("<response>") == 3
    status = invoke(
        "PersoniumImportFunction",
        api_event("POST", f"/{IDLE}/__import", TOKENS[IDLE], headers={"X-HTTP-Method-Override": "GET"}),
    )
    assert (status.status, status.body) == (200, {"status": "ready"})
    deleted = call(invoke, "POST", IDLE, "/s.zip", headers={"X-HTTP-Method-Override": "DELETE"})
    assert deleted.status == 204
    # Only a POST is overridden: a PUT stays a PUT.
    assert put(invoke, "s.zip", **{"X-HTTP-Method-Override": "DELETE"}).status == 201


def test_the_request_key_is_checked_and_echoed_on_the_collection_too(seeded_cells, invoke):
    echoed = call(invoke, "PROPFIND", IDLE, headers={"Depth": "0", "X-Personium-RequestKey": "key-1"})
    assert header(echoed, "X-Personium-RequestKey") == "key-1"
    refused = call(invoke, "PROPFIND", IDLE, headers={"Depth": "0", "X-Personium-RequestKey": "not valid!"})
    assert personium_error(refused) == (400, "PR400-EV-0002", "Request header is invalid [X-Personium-RequestKey].")


def test_a_cell_whose_import_failed_refuses_its_snapshots_but_not_its_import(seeded_cells, store, invoke):
    put(invoke, "s.zip", body=CellExport().zip())
    (latest,) = store.latest_operations(IDLE, 1)  # the demo's done import
    failed = replace(latest, id=new_operation_id(), step=ProgressStep.IMPORT_FAILED, started_at=utc_now())
    store.start_operation(failed, latest)
    refused = (
        409,
        "PR409-CM-0001",
        "Cell status is [import failed]. Only Unit Level's APIs, CellImport and GetToken are executable.",
    )
    for method, path in (("GET", "/s.zip"), ("PROPFIND", ""), ("PUT", "/s.zip"), ("DELETE", "/s.zip")):
        answer = call(invoke, method, IDLE, path, token=False, headers={"Depth": "1", "Accept": "application/zip"})
        assert personium_error(answer) == refused, method
    status = invoke("PersoniumStatusFunction", api_event("GET", f"/{IDLE}/__import", TOKENS[IDLE]))
    assert (status.status, status.body["status"]) == (200, "import failed")
    again = invoke("PersoniumImportFunction", api_event("POST", f"/{IDLE}/__import", TOKENS[IDLE], body={"Name": "s"}))
    assert again.status == 202


def test_the_cookie_and_x_override_work_on_the_collection_as_on_every_personium_route(seeded_cells, invoke):
    """p_cookie_peer with the p_cookie cookie instead of Authorization, and a header set by
    X-Override (here the Depth a client could not send)."""
    propfind = api_event("PROPFIND", f"/{BUSY}/__snapshot", None, query={"p_cookie_peer": demo.ROOT_COOKIE_PEER})
    propfind["headers"] |= {"Cookie": f"p_cookie={demo.ROOT_TOKEN}", "X-Override": "Depth: 0"}
    propfind["multiValueHeaders"] = {name: [value] for name, value in propfind["headers"].items()}
    listed = invoke("PersoniumImportFunction", propfind)
    assert listed.status == 207 and listed.body.count("<response>") == 1
    propfind["queryStringParameters"] = propfind["multiValueQueryStringParameters"] = None
    assert invoke("PersoniumImportFunction", propfind).status == 401


def start_import(invoke, name, cell=IDLE):
    return invoke("PersoniumImportFunction", api_event("POST", f"/{cell}/__import", TOKENS[cell], body={"Name": name}))


@pytest.mark.parametrize(
    ("export", "answer"),
    [
        (ZIP, (400, "PR400-MC-0004", "The specified snapshot file is not zip file.")),
        (
            CellExport(left_out={MANIFEST}),
            (500, "PR500-CM-0002", "Files I/O error caused [read manifest json from snapshot file] to fail."),
        ),
        (
            CellExport(manifest=b'{\n"export_version":'),
            (400, "PR400-CM-0004", 'JSON parse error. [{\\u000A"export_version":].'),
        ),
        (
            CellExport(manifest={"export_version": 1}),
            (400, "PR400-MC-0003", "Version of the snapshot file is invalid. Expected [2] but was [1]."),
        ),
        (
            CellExport(manifest={"export_version": 1000}),
            (400, "PR400-MC-0003", "Version of the snapshot file is invalid. Expected [2] but was [1,000]."),
        ),
        (
            CellExport(manifest={"unit_url": "https://unit.example/"}),
            (400, "PR400-MC-0003", "Version of the snapshot file is invalid. Expected [2] but was [null]."),
        ),
        (
            CellExport(left_out={f"{ODATA_DIR}/70_userdata.pjson", f"{ODATA_DIR}/20_role.pjson"}),
            (400, "PR400-MC-0001", "[10_odata/70_userdata.pjson] does not exist in the snapshot file."),
        ),
    ],
    ids=[
        "not a zip",
        "no manifest",
        "manifest not JSON",
        "version 1",
        "version 1000",
        "no version",
        "two files missing",
    ],
)
def test_a_cell_snapshot_personium_refuses_is_answered_as_personium_answers_before_the_202(
    seeded_cells, invoke, store, export, answer
):
    assert put(invoke, "cell.zip", body=export if isinstance(export, bytes) else export.zip()).status == 201
    assert personium_error(start_import(invoke, "cell")) == answer
    assert store.latest_operation(IDLE) is None or store.latest_operation(IDLE).importation_name != "cell"


def test_a_manifest_whose_version_is_no_integer_gets_personiums_unknown_exception(seeded_cells, invoke):
    put(invoke, "cell.zip", body=CellExport(manifest={"export_version": "2"}).zip())
    refused = start_import(invoke, "cell")
    assert refused.status == 500 and refused.body["code"] == "PR500-SV-9999"
    assert refused.body["message"]["lang"] == "en_US"
    assert re.fullmatch(r"Unknown Exception \[\d{1,5}\]", refused.body["message"]["value"])


def test_a_cell_snapshot_as_personiums_export_writes_it_is_accepted_for_its_own_importer(seeded_cells, invoke, store):
    put(invoke, "cell.zip", body=CellExport().zip())
    accepted = start_import(invoke, "cell")
    assert accepted.status == 202, accepted.body
    operation = store.latest_operation(IDLE)
    assert (operation.importation_name, operation.importer_key) == ("cell", "personium-cell")


@pytest.mark.parametrize(("webdav_bytes", "gets"), [(0, 1), (200_000, 2)], ids=["small", "over the tail"])
def test_a_stored_snapshot_is_told_and_checked_from_its_end_in_one_get_and_its_manifest(files, webdav_bytes, gets):
    """The first GET reads the end (the zip's directory, and the size: no HEAD); a snapshot larger
    than that end takes one more, for its manifest, which the exporter writes first."""
    export = CellExport(files={"big.bin": random.Random(7).randbytes(webdav_bytes)} if webdav_bytes else {})
    key = snapshot_key(IDLE, "counted")
    etag = files.put(key, export.zip())
    calls: list[str] = []
    files.client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    assert snapshot_importer(files.opener(key, etag)) == "personium-cell"
    assert calls == ["GetObject"] * gets
