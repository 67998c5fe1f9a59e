"""`bulk-import sam-env`: the env.json of `sam local invoke --env-vars` (and `sam local start-api`).

Locally SAM resolves a function's environment without a stack (samcli/lib/intrinsic_resolver,
samcli/local/lambdafn/env_vars.py): `!Ref` of a resource is its logical id (TABLE_NAME=ImportTable,
so every table read fails), `!Ref` of a parameter its default or `--parameter-overrides` value,
pseudo parameters are placeholders (AWS::StackName is "local"), and what it cannot resolve becomes "".
An env.json overrides those values: its `Parameters` object for every function, an object named by a
function's logical id for that function (winning over `Parameters`). Only the variables the template
declares are set; any other name in the file is ignored.

This writes every variable the template's functions declare, with a real stack's values, as
CloudFormation resolves them:

- `--stack-name NAME`: a deployed stack: its parameters (DescribeStacks) and its resources' physical
  ids (ListStackResources: the table's and bucket's names, the state machine's ARN, the bus's name);
- `--local`: the running local stack (.local-stack.json): the names it created, and AWS_ENDPOINT_URL
  (declared for this, never set on AWS), its moto server as a container reaches it:
  host.docker.internal (Docker Desktop), or 127.0.0.1 with `sam local invoke --docker-network host`
  (`--endpoint-host 127.0.0.1`; moto listens on 127.0.0.1 only, which Linux's host-gateway does not reach).

Values shared by every function that declares a variable go to `Parameters`; a value that differs
between functions goes to each function's own object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3

from bulk_import_cli.stack_state import StackInfo
from bulk_import_cli.usage import UsageError
from bulk_import_local.sam_template import SamTemplate

#: As `sam` finds it: in the current directory.
TEMPLATE = Path("template.yaml")
#: How a container started by `sam local` reaches a port of the machine running Docker (Docker Desktop).
CONTAINER_HOST = "host.docker.internal"
#: The variable that points the SDK at the local stack's moto server.
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"

Environments = dict[str, dict[str, str]]  # function logical id -> its variables


# -- the two sources ---------------------------------------------------------------------------------


def local_environments(info: StackInfo, template: Path = TEMPLATE) -> Environments:
    """Each function's environment in the running local stack (the one its handlers run with)."""
    return {
        logical_id: function.environment
        for logical_id, function in SamTemplate(template, info.parameters).functions().items()
    }


def container_endpoint(endpoint: str, host: str = CONTAINER_HOST) -> str:
    """The local stack's moto endpoint as a container reaches it: the same port on `host`."""
    address = urlsplit(endpoint)
    return urlunsplit(address._replace(netloc=f"{host}:{address.port}"))


class DeployedTemplate(SamTemplate):
    """template.yaml resolved as CloudFormation resolved it in a deployed stack: parameters as the
    stack has them, `!Ref` of a resource its physical id, pseudo parameters the stack's own."""

    def __init__(self, path: Path, stack: dict[str, Any], physical_ids: dict[str, str]) -> None:
        parameters = {
            parameter["ParameterKey"]: parameter.get("ResolvedValue", parameter["ParameterValue"])
            for parameter in stack.get("Parameters", [])
        }
        super().__init__(path, parameters)
        _, partition, _, region, account, resource = stack["StackId"].split(":", 5)
        self.stack_name = resource.split("/")[1]
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": partition,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": stack["StackId"],
            "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com",
        }
        self.physical_ids = physical_ids

    def ref(self, name: str) -> str | None:
        if name == "AWS::NoValue":
            return None
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical_ids:  # Ref of a table, bucket, event bus: its name; of a state machine: its ARN
            return self.physical_ids[name]
        raise UsageError(f"stack {self.stack_name} has no resource {name} (deployed from another template?)")

    def get_att(self, name: str, attribute: str) -> str:
        raise UsageError(
            f"a function's environment uses Fn::GetAtt {name}.{attribute}, which sam-env does not "
            "resolve from a stack: add its value to env.json by hand"
        )


def deployed_environments(stack_name: str, cloudformation: Any = None, template: Path = TEMPLATE) -> Environments:
    """Each function's environment as deployed in the stack (from its parameters and resources)."""
    cloudformation = cloudformation or boto3.client("cloudformation")
    (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    # ListStackResources, not DescribeStackResources: that one stops at 100 resources.
    physical_ids = {
        resource["LogicalResourceId"]: resource["PhysicalResourceId"]
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name)
        for resource in page["StackResourceSummaries"]
        if resource.get("PhysicalResourceId")
    }
    deployed = DeployedTemplate(template, stack, physical_ids)
    return {logical_id: function.environment for logical_id, function in deployed.functions().items()}


# -- the file ----------------------------------------------------------------------------------------


def env_file(environments: Environments, shared: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
    """The env.json content: `Parameters` holds each variable whose value every function declaring it
    shares (and `shared`); a function's own object holds those whose value differs between functions."""
    values: dict[str, set[str]] = {}
    for environment in environments.values():
        for name, value in environment.items():
            values.setdefault(name, set()).add(value)
    common = {name: next(iter(found)) for name, found in sorted(values.items()) if len(found) == 1}
    content: dict[str, dict[str, str]] = {"Parameters": common | (shared or {})}
    for logical_id, environment in sorted(environments.items()):
        own = {name: value for name, value in sorted(environment.items()) if name not in common}
        if own:
            content[logical_id] = own
    return content


# -- the command -------------------------------------------------------------------------------------


def sam_env(args: argparse.Namespace) -> None:
    if args.local:
        info = StackInfo.running()
        if info is None:
            raise UsageError("no local stack runs here: start `bulk-import serve` in the repo root first")
        endpoint = container_endpoint(info.endpoint, args.endpoint_host)
        content = env_file(local_environments(info, Path(info.template)), {ENDPOINT_VARIABLE: endpoint})
        source = f"local stack, moto at {endpoint}"
    elif args.stack_name:
        content = env_file(deployed_environments(args.stack_name, template=Path(args.template)))
        source = f"stack {args.stack_name}"
    else:
        raise UsageError("sam-env takes --local (the running local stack) or --stack-name NAME (a deployed stack)")
    text = json.dumps(content, indent=2) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
        return
    Path(args.output).write_text(text)
    print(
        json.dumps(
            {
                "envVars": args.output,
                "source": source,
                "next": f"sam local invoke FUNCTION -e events/FUNCTION/EVENT.json --env-vars {args.output}",
            },
            indent=2,
        )
    )


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `sam-env` to the CLI's subcommands."""
    command = commands.add_parser(
        "sam-env", help="write the env.json of `sam local invoke --env-vars` for the local stack or a deployed one"
    )
    source = command.add_mutually_exclusive_group()
    source.add_argument("--local", action="store_true", help="the running local stack (bulk-import serve)")
    # SUPPRESS: without it, the root parser's --stack-name (and $BULK_IMPORT_STACK) would be overwritten.
    source.add_argument("--stack-name", default=argparse.SUPPRESS, help="a deployed stack")
    command.add_argument(
        "--output",
        "-o",
        default="env.json",
        help="the file to write, - for stdout (default: env.json, which samconfig.toml passes to "
        "sam local invoke, start-api and start-lambda)",
    )
    command.add_argument(
        "--endpoint-host",
        default=CONTAINER_HOST,
        help=f"--local: the host a container reaches the local stack at (default {CONTAINER_HOST}; "
        "127.0.0.1 with sam local invoke --docker-network host)",
    )
    command.add_argument(
        "--template",
        "-t",
        default=str(TEMPLATE),
        help="--stack-name: the template the stack was deployed from (default: template.yaml here)",
    )
    command.set_defaults(run=sam_env)
