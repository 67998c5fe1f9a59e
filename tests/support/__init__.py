"""What the tests share: the stack under test, its events, input records, and the worker driven the
way the state machine drives it. Test modules import these, never one another (tests/template/
test_import_graph.py checks it); fixtures stay in the conftest.py files."""
