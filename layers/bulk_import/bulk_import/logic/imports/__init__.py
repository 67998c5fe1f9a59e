"""Starting, feeding and stopping imports: what the write endpoints of every dialect and the CLI do,
one module per action."""
