"""The PartiQL the local stack reads: the worker's INSERT, and nothing else."""

from bulk_import.dal.dynamodb.directory_items import DirectoryEntry, _insert_statement
from bulk_import_local.partiql import inserted_items, parsed_insert


def test_the_workers_insert_is_read_back_as_its_table_and_item():
    entry = DirectoryEntry("user", "ada", {"username": "ada", "emails": ["a@x.io"], "utcOffset": 1.5}, "op#user#0")
    statement = _insert_statement("T", entry.item("c1"))

    table, read = parsed_insert(statement)

    assert table == "T"
    assert list(read) == ["PK", "SK", "data", "importedFrom"]
    assert read["PK"] == {"S": "USER#c1#ada"}
    assert read["data"]["M"]["utcOffset"] == {"N": "1.5"}
    assert inserted_items({"Statements": [statement, statement]}) == [("T", read), ("T", read)]


def test_any_other_statement_is_not_read_as_an_insert():
    for statement in (
        {"Statement": 'SELECT * FROM "T" WHERE PK = ?', "Parameters": [{"S": "a"}]},
        {"Statement": "INSERT INTO \"T\" VALUE {'PK': 'literal'}"},  # a value not a parameter
        {"Statement": "INSERT INTO \"T\" VALUE {'PK': ?, 'SK': ?}", "Parameters": [{"S": "a"}]},  # one missing
        {"Statement": 'UPDATE "T" SET a = ? WHERE PK = ?', "Parameters": [{"S": "a"}, {"S": "b"}]},
    ):
        assert parsed_insert(statement) is None
    assert inserted_items({"Statements": []}) == []
