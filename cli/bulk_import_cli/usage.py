"""What every CLI command raises to stop with a message on stderr and exit code 2 (main() prints it)."""


class UsageError(Exception):
    pass
