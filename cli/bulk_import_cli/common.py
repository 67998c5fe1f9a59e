"""What every CLI command shares: the global options, which stack a command talks to, how results
are printed, and how an AWS SDK error becomes one line (the errors and exit codes: usage.py).

Global options are taken before or after the subcommand (`bulk-import --output json imports list`
and `bulk-import imports list --output json` are the same), each with an environment variable:

    --stack-name NAME    $BULK_IMPORT_STACK        a deployed stack (CloudFormation outputs)
    --region REGION      $AWS_REGION, $AWS_DEFAULT_REGION
    --profile PROFILE    $AWS_PROFILE
    --output json|table  $BULK_IMPORT_OUTPUT

Which stack: `--stack-name` given on the command line, else the local stack running here (found
through .local-stack.json), else $BULK_IMPORT_STACK. --region and --profile become AWS_DEFAULT_REGION
and AWS_PROFILE for the command, so every AWS client it makes uses them; the local stack ignores
them. The output format is `args.output_format` (a subcommand may have an --output of its own:
sam-env's is the file it writes).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)
from rich.console import Console, RenderableType
from rich.table import Table

from bulk_import_cli.stack_state import StackInfo
from bulk_import_cli.usage import UsageError

if TYPE_CHECKING:
    from bulk_import.dal.dynamodb import ImportStore
    from bulk_import.dal.s3 import ImportFiles
    from bulk_import.dal.stepfunctions import WorkerExecutions
    from bulk_import_local.functions_host import FunctionsHost

OUTPUTS = ("json", "table")


# -- global options ------------------------------------------------------------------------------------


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """Adds the global options to `parser`, leaving out any it already has. They default to
    SUPPRESS, so that a subcommand's parser does not overwrite a value given before it."""
    options: list[tuple[str, dict[str, Any]]] = [
        (
            "--stack-name",
            {
                "metavar": "NAME",
                "help": "the deployed stack to talk to (default: the local stack "
                "running here, else $BULK_IMPORT_STACK)",
            },
        ),
        ("--region", {"help": "its AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION)"}),
        ("--profile", {"help": "the AWS profile to use (default: $AWS_PROFILE)"}),
        (
            "--output",
            {
                "choices": OUTPUTS,
                "dest": "output_format",
                "help": "json or table (default: $BULK_IMPORT_OUTPUT; else imports print tables on a "
                "terminal and JSON otherwise, the other commands JSON)",
            },
        ),
    ]
    missing = [
        (flag, settings) for flag, settings in options if flag not in parser._option_string_actions
    ]  # sam-env has an --output of its own
    if not missing:
        return
    group = parser.add_argument_group("global options (before or after the subcommand)")
    for flag, settings in missing:
        group.add_argument(flag, default=argparse.SUPPRESS, **settings)


def spread_global_options(root: argparse.ArgumentParser) -> None:
    """Adds the global options to `root` and every parser under it (groups and subcommands), so
    they are accepted wherever they are written. Idempotent."""
    seen: set[int] = set()

    def visit(parser: argparse.ArgumentParser) -> None:
        if id(parser) in seen:  # aliases share their parser
            return
        seen.add(id(parser))
        add_global_options(parser)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    visit(child)

    visit(root)


def resolve_global_options(args: argparse.Namespace) -> None:
    """Fills the global options not given from the environment (`stack_name_given` tells whether
    --stack-name was on the command line), and makes --region and --profile the AWS SDK's."""
    given = vars(args)
    args.stack_name_given = given.get("stack_name") is not None
    args.stack_name = given.get("stack_name") or os.environ.get("BULK_IMPORT_STACK") or None
    args.region = given.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
    args.profile = given.get("profile") or os.environ.get("AWS_PROFILE") or None
    output = given.get("output_format") or os.environ.get("BULK_IMPORT_OUTPUT") or None
    if output is not None and output not in OUTPUTS:
        raise UsageError(f"BULK_IMPORT_OUTPUT={output}: expected one of {', '.join(OUTPUTS)}")
    args.output_format = output
    # boto3 reads AWS_DEFAULT_REGION, not AWS_REGION (which the AWS CLI and Lambda set).
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    if args.profile:
        os.environ["AWS_PROFILE"] = args.profile


# -- the stack -------------------------------------------------------------------------------------------


def local_stack(args: argparse.Namespace) -> StackInfo | None:
    """The local stack this command talks to: the one running here, unless --stack-name was given
    on the command line."""
    if getattr(args, "stack_name_given", False):
        return None
    if not hasattr(args, "local_stack_info"):  # a probe of its port: once per command
        args.local_stack_info = StackInfo.running()
    return args.local_stack_info


def use_local_stack(args: argparse.Namespace) -> bool:
    """Points this process's AWS clients and the functions' configuration at the local stack, if
    this command talks to it."""
    info = local_stack(args)
    if info is None:
        return False
    os.environ.pop("AWS_PROFILE", None)  # moto takes any credentials; a profile could only fail
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": info.endpoint,
            "AWS_DEFAULT_REGION": info.region,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    os.environ.update(functions_host(info).environment())
    return True


def functions_host(info: StackInfo) -> FunctionsHost:
    """The functions of the template the local stack runs (imported here: the local stack's package
    needs moto, which most commands never need)."""
    from bulk_import_local.functions_host import FunctionsHost
    from bulk_import_local.sam_template import SamTemplate

    return FunctionsHost(SamTemplate(Path(info.template), info.parameters).functions())


def template_parameters(args: argparse.Namespace) -> dict[str, str]:
    """The parameters of the stack this command talks to: the local stack's, else the deployed one's."""
    info = local_stack(args)
    if info is not None:
        return info.parameters
    return _describe(*_stack_key(args))[1]


def stack_outputs(args: argparse.Namespace) -> dict[str, str]:
    """The deployed stack's CloudFormation outputs."""
    return _describe(*_stack_key(args))[0]


def _stack_key(args: argparse.Namespace) -> tuple[str, str | None, str | None]:
    if not args.stack_name:
        raise UsageError(
            "no local stack is running here (start `bulk-import serve` in the repo root), "
            "and no deployed stack was named: pass --stack-name or set BULK_IMPORT_STACK"
        )
    return args.stack_name, os.environ.get("AWS_PROFILE"), os.environ.get("AWS_DEFAULT_REGION")


@functools.lru_cache(maxsize=8)
def _describe(stack_name: str, profile: str | None, region: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """The deployed stack's outputs and parameters (profile and region: the cache's key; boto3 reads
    them from the environment)."""
    (stack,) = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    return (
        {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])},
        {parameter["ParameterKey"]: parameter["ParameterValue"] for parameter in stack.get("Parameters", [])},
    )


def store(args: argparse.Namespace) -> ImportStore:
    from bulk_import.dal.dynamodb import ImportStore

    if use_local_stack(args):
        return ImportStore(os.environ["TABLE_NAME"], boto3.client("dynamodb"))
    return ImportStore(stack_outputs(args)["TableName"], boto3.client("dynamodb"))


def files(args: argparse.Namespace) -> ImportFiles:
    from bulk_import.dal.s3 import ImportFiles, default_files

    if use_local_stack(args):
        return default_files()
    return ImportFiles(stack_outputs(args)["ImportBucketName"], boto3.client("s3"))


def executions(args: argparse.Namespace) -> WorkerExecutions:
    from bulk_import.dal.stepfunctions import WorkerExecutions, default_executions

    if use_local_stack(args):
        return default_executions()
    return WorkerExecutions(stack_outputs(args)["ImportStateMachineArn"], boto3.client("stepfunctions"))


def api_url(args: argparse.Namespace) -> str:
    info = local_stack(args)
    return info.api_url if info else stack_outputs(args)["ApiUrl"]


# -- output ----------------------------------------------------------------------------------------------


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def wants_json(args: argparse.Namespace, tables_on_a_terminal: bool = False) -> bool:
    """--output (or $BULK_IMPORT_OUTPUT); else JSON, or with `tables_on_a_terminal` tables when
    stdout is a terminal."""
    output = getattr(args, "output_format", None)
    if output:
        return output == "json"
    return not (tables_on_a_terminal and sys.stdout.isatty())


def print_result(
    args: argparse.Namespace,
    body: Any,
    render: Callable[[Any], RenderableType] | None = None,
    tables_on_a_terminal: bool = False,
) -> None:
    """`body` as JSON on stdout, or as a table (`render`'s, else one row per key)."""
    if wants_json(args, tables_on_a_terminal):
        print_json(body)
    else:
        Console().print((render or key_value_table)(body))


def key_value_table(body: dict) -> Table:
    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in body.items():
        table.add_row(str(key), value if isinstance(value, str) else json.dumps(value, default=str))
    return table


# -- failures --------------------------------------------------------------------------------------------


def aws_error_message(exc: BotoCoreError | ClientError) -> str:
    """One line for an AWS SDK error, saying what to do where there is something to do."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        text = f"AWS refused {exc.operation_name}: {error.get('Code', 'error')}: {error.get('Message', '')}"
    elif isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        text = f"{exc}: configure AWS credentials (aws configure, AWS_PROFILE or --profile)"
    elif isinstance(exc, NoRegionError):
        text = "no AWS region: pass --region or set AWS_REGION"
    elif isinstance(exc, EndpointConnectionError):
        text = f"{exc} (no network, or a wrong region or AWS_ENDPOINT_URL)"
    else:
        text = str(exc)
    return " ".join(text.split())
