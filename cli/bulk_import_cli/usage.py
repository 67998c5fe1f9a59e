"""What CLI commands raise to stop with a one-line message on stderr (main() prints it, never a
traceback) and an exit code: 2 for a usage error, 1 for a refusal."""


class CliError(Exception):
    exit_code = 1


class UsageError(CliError):
    """The command was given wrong or missing arguments, or nothing to talk to: exit code 2."""

    exit_code = 2


class Refused(CliError):
    """The API, AWS or this machine refused (a problem document, an unreachable endpoint, a local
    stack already running): exit code 1."""

    exit_code = 1
