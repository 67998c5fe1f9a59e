"""The import worker: the state machine's (statemachine/import.asl.json) tasks, one module each.

Stage: read the input from its cursor and write it to the staging area, resumable, within a time
budget. Batch: import one batch of at most 50 staged records and count it exactly once. Phase: move
the operation to its next step, or record why it failed. Nothing here knows of HTTP or boto3.

Exactness, whatever is retried, delivered twice or crashes (docs/worker.md has the fault matrix):
- a record is numbered (type, seq) when staged, from counts saved with the resume point in one
  write; staging it again overwrites the same item;
- an imported user, channel or message remembers the record that created it, so a retry of that
  record finds it and succeeds instead of creating a duplicate or failing as one;
- a batch's counts are added in one transaction with the batch's marker, which keeps the batch's
  outcome: a retried batch is never counted twice, and every attempt makes the table agree with
  the marker;
- an operation that ends early keeps its counts until no attempt of its batches can still run: a
  batch in flight counts what it imported meanwhile, and then every record never imported is
  counted as an error at once, so counts only grow, at the end completed + error == total, and no
  imported record is counted as an error (docs/decisions/0001-counts-settle-after-a-stop.md);
- every phase transition succeeds when repeated.
"""
