"""Streaming readers: both formats, resuming from any cursor, malformed input named by file and line."""

import io
import json
import zipfile

import pytest

from bulk_import.domain.records.staged import RecordType
from bulk_import.readers.by_format import read_records
from bulk_import.readers.lines import MalformedInput


def zipped(members: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def opener(content: bytes):
    return lambda: io.BytesIO(content)


CSV_ZIP = zipped(
    {
        "general/messages.csv": 'username,timestamp,text\nu1,1700000000000,hi\nu2,1700000001000,"a, b"\n',
        "channels.csv": "name,creator,private,members\ngeneral,u1,false,u1;u2\n",
        "users.csv": "\ufeffusername,email,name\nu1,u1@example.com,One\n\nu2,u2@example.com,\n",
    }
)
JSONL = b'{"type":"user","username":"a","emails":["a@example.com"]}\n\n{"type":"channel","name":"c","creator":"a"}\n'


def test_csv_zip_yields_users_then_channels_then_messages_with_sources():
    records = list(read_records(opener(CSV_ZIP), name="x.zip"))
    assert [(r.type, r.source) for r in records] == [
        (RecordType.USER, "users.csv:2"),
        (RecordType.USER, "users.csv:4"),
        (RecordType.CHANNEL, "channels.csv:2"),
        (RecordType.MESSAGE, "general/messages.csv:2"),
        (RecordType.MESSAGE, "general/messages.csv:3"),
    ]
    assert records[0].data == {"username": "u1", "emails": ["u1@example.com"], "name": "One"}
    assert records[1].data == {"username": "u2", "emails": ["u2@example.com"]}
    assert records[4].data == {"channel": "general", "username": "u2", "timestamp": "1700000001000", "text": "a, b"}


def test_json_lines_yield_records_without_their_type_field():
    records = list(read_records(opener(JSONL), name="in.jsonl"))
    assert [(r.type, r.source, r.data) for r in records] == [
        (RecordType.USER, "in.jsonl:1", {"username": "a", "emails": ["a@example.com"]}),
        (RecordType.CHANNEL, "in.jsonl:3", {"name": "c", "creator": "a"}),
    ]


@pytest.mark.parametrize(
    "content", [CSV_ZIP, JSONL, zipped({"all.jsonl": JSONL})], ids=["csv-zip", "jsonl", "jsonl-zip"]
)
def test_resuming_from_every_cursor_yields_exactly_the_rest(content):
    records = list(read_records(opener(content)))
    for position, record in enumerate(records):
        cursor = json.loads(json.dumps(record.cursor))  # cursors travel through Step Functions as JSON
        rest = list(read_records(opener(content), cursor))
        assert [r.source for r in rest] == [r.source for r in records[position + 1 :]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (zipped({"users.csv": "username,mail\n"}), "users.csv line 1: header must be username,email,name"),
        (zipped({"users.csv": b"\xff\xfe,x,y\nok,ok@example.com,Ok\n"}), "users.csv line 1: header must be"),
        (
            zipped({"users.csv": "username,email,name\nok,ok@example.com,Ok\n", "channels.csv": "name\n"}),
            "channels.csv line 1: header must be name,creator,private,members",
        ),
        (zipped({"readme.txt": "hello"}), "x.zip: no users.csv"),
        (b"PK\x03\x04 truncated", "x.zip: not a valid zip file"),
    ],
)
def test_a_file_that_cannot_be_read_at_all_names_file_and_line(content, message):
    with pytest.raises(MalformedInput) as raised:
        list(read_records(opener(content), name="x.zip"))
    assert str(raised.value).startswith(message)


GOOD_USER = b'{"type":"user","username":"after","emails":["after@example.com"]}\n'


@pytest.mark.parametrize(
    ("content", "source", "record_type", "problem"),
    [
        (
            zipped({"users.csv": "username,email,name\nbroken\nafter,after@example.com,After\n"}),
            "users.csv:2",
            RecordType.USER,
            "expected 3 columns, got 1",
        ),
        (
            zipped({"users.csv": 'username,email,name\n"open,x@example.com,X\nafter,after@example.com,After\n'}),
            "users.csv:2",
            RecordType.USER,
            "invalid CSV",
        ),
        (
            zipped({"users.csv": b"username,email,name\n\xff\xfe,x,y\nafter,after@example.com,After\n"}),
            "users.csv:2",
            RecordType.USER,
            "not UTF-8 text",
        ),
        (
            zipped({"general/messages.csv": "username,timestamp,text\nu1,1700000000000\n"}),
            "general/messages.csv:2",
            RecordType.MESSAGE,
            "expected 3 columns, got 2",
        ),
        (b"{oops\n" + GOOD_USER, "x.zip:1", RecordType.USER, "invalid JSON (Expecting property name"),
        (b'{"type":"channel","name":\n' + GOOD_USER, "x.zip:1", RecordType.CHANNEL, "invalid JSON"),
        (b'["not", "an object"]\n' + GOOD_USER, "x.zip:1", RecordType.USER, "expected a JSON object"),
        (
            b'{"type":"robot"}\n' + GOOD_USER,
            "x.zip:1",
            RecordType.USER,
            "type must be user, channel or message, not 'robot'",
        ),
        (b"\x00\x01binary garbage\xff\n" + GOOD_USER, "x.zip:1", RecordType.USER, "not UTF-8 text"),
    ],
)
def test_a_line_that_cannot_be_read_fails_alone_and_reading_goes_on(content, source, record_type, problem):
    records = list(read_records(opener(content), name="x.zip"))
    broken = [r for r in records if r.problem]
    assert [(r.source, r.type, r.data) for r in broken] == [(source, record_type, {})]
    assert broken[0].problem.startswith(problem)
    kept = [r for r in records if not r.problem]
    assert all(r.data.get("username") == "after" for r in kept)
    assert len(kept) == (0 if record_type is RecordType.MESSAGE else 1)


def test_reading_is_streamed_not_loaded_whole():
    class CountingFile(io.BytesIO):
        largest = 0

        def readline(self, size=-1):
            line = super().readline(size)
            CountingFile.largest = max(CountingFile.largest, len(line))
            return line

        def read(self, size=-1):
            assert size != -1 and size < 1024, "whole-file read"
            return super().read(size)

    content = b"".join(b'{"type":"user","username":"u%d","emails":["u@example.com"]}\n' % n for n in range(5000))
    assert sum(1 for _ in read_records(lambda: CountingFile(content))) == 5000
    assert CountingFile.largest < 100
