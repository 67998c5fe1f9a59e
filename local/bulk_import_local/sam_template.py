"""template.yaml as the local stack needs it: functions, routes, resources, with intrinsics resolved.

Nothing is copied by hand from the template: the local stack and the tests read it through this.
Only the intrinsics the template uses are resolved (Ref, Fn::GetAtt, Fn::Sub).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK_NAME = "bulk-import-local"


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_dir: Path
    module: str
    attribute: str
    environment: dict[str, str]
    alias: str | None = None  # AutoPublishAlias: the alias every caller in the template invokes

    @property
    def name(self) -> str:
        return f"{STACK_NAME}-{self.logical_id}"

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.name}"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as in the template: /{CellName}/__import
    function: str  # logical id

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters if this route serves the request, else None."""
        if self.method.upper() not in (method.upper(), "ANY"):
            return None
        pattern = re.sub(r"\\\{([A-Za-z0-9_]+)\\\+\\\}", r"(?P<\1>.+)", re.escape(self.path))
        pattern = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", pattern)
        found = re.fullmatch(pattern, path)
        return found.groupdict() if found else None


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms: `!Ref X` is {"Ref": X}, `!GetAtt A.B` is
    {"Fn::GetAtt": ["A", "B"]}, and any other `!Name v` is {"Fn::Name": v}. (cfn-lint's decoder does
    the same, and more, but loads sympy, networkx and the SAM translator: ~55 MB in the local stack's
    one process; tests/template still lint the template with it.)"""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    with path.open() as file:
        loaded = yaml.load(file, Loader=_TemplateLoader)
    if not isinstance(loaded, dict) or "Resources" not in loaded:
        raise ValueError(f"{path}: not a CloudFormation template")
    return loaded


class SamTemplate:
    def __init__(self, path: Path, parameter_overrides: dict[str, str] | None = None) -> None:
        decoded = load_template(path)
        self.root = path.parent
        self.raw: dict[str, Any] = decoded
        self.parameters = {
            name: str(definition.get("Default", "")) for name, definition in decoded.get("Parameters", {}).items()
        } | (parameter_overrides or {})

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.raw["Resources"].items() if r["Type"] == kind}

    # -- physical names, as CloudFormation would make them (deterministic here) --------------------

    def physical_name(self, logical_id: str) -> str:
        kind = self.raw["Resources"][logical_id]["Type"]
        if kind == "AWS::S3::Bucket":
            return f"{STACK_NAME}-{logical_id}".lower()
        if kind in ("AWS::Serverless::StateMachine", "AWS::Events::EventBus"):
            return (
                self.resolve(self.raw["Resources"][logical_id]["Properties"].get("Name"))
                or f"{STACK_NAME}-{logical_id}"
            )
        return f"{STACK_NAME}-{logical_id}"

    def ref(self, name: str) -> str | None:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": STACK_NAME,
        }
        if name == "AWS::NoValue":  # CloudFormation removes the property (functions() drops the variable)
            return None
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name.endswith(".Alias"):  # SAM's reference to a function's AutoPublishAlias: the alias's ARN
            function = name.removesuffix(".Alias")
            return f"{self.get_att(function, 'Arn')}:{self.function_alias(function)}"
        kind = self.raw["Resources"][name]["Type"]
        if kind == "AWS::Serverless::StateMachine":
            return self.state_machine_arn(name)
        return self.physical_name(name)

    def get_att(self, name: str, attribute: str) -> str:
        kind = self.raw["Resources"][name]["Type"]
        physical = self.physical_name(name)
        if attribute == "Name":
            return physical
        if kind == "AWS::Serverless::Function":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{physical}"
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{physical}"
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{physical}"
        raise ValueError(f"Fn::GetAtt {name}.{attribute} is not supported locally")

    def function_alias(self, logical_id: str) -> str | None:
        """The function's AutoPublishAlias, its own or the Globals'."""
        shared = self.raw.get("Globals", {}).get("Function", {}).get("AutoPublishAlias")
        alias = self.raw["Resources"][logical_id]["Properties"].get("AutoPublishAlias", shared)
        return None if alias is None else str(self.resolve(alias))

    def state_machine_arn(self, name: str) -> str:
        return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{self.physical_name(name)}"

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                return self.ref(argument)
            if function == "Fn::GetAtt":
                return self.get_att(*argument)
            if function == "Fn::Sub":
                return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub(m.group(1)), argument)
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def _sub(self, expression: str) -> str:
        name, _, attribute = expression.partition(".")
        return self.get_att(name, attribute) if attribute else self.ref(name) or ""

    # -- what the local stack serves and creates --------------------------------------------------

    def functions(self) -> dict[str, Function]:
        shared = self.raw.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        functions = {}
        for logical_id, resource in self.resources("AWS::Serverless::Function").items():
            properties = resource["Properties"]
            own = properties.get("Environment", {}).get("Variables", {})
            module, _, attribute = properties["Handler"].rpartition(".")
            functions[logical_id] = Function(
                logical_id=logical_id,
                code_dir=self.root / properties["CodeUri"],
                module=module,
                attribute=attribute,
                environment={
                    name: str(resolved)
                    for name, value in (shared | own).items()
                    if (resolved := self.resolve(value)) is not None
                },
                alias=self.function_alias(logical_id),
            )
        return functions

    def routes(self) -> list[Route]:
        return [
            Route(method=event["Properties"]["Method"], path=event["Properties"]["Path"], function=logical_id)
            for logical_id, resource in self.resources("AWS::Serverless::Function").items()
            for event in resource["Properties"].get("Events", {}).values()
            if event["Type"] == "Api"
        ]

    def binary_media_types(self) -> tuple[str, ...]:
        """The REST API's BinaryMediaTypes (a `/` is written `~1` in the template, as CloudFormation wants)."""
        (api,) = self.resources("AWS::Serverless::Api").values()
        return tuple(kind.replace("~1", "/") for kind in api["Properties"].get("BinaryMediaTypes", []))

    def api_stage(self) -> str:
        (api,) = self.resources("AWS::Serverless::Api").values()
        return self.resolve(api["Properties"]["StageName"])

    def tables(self) -> dict[str, dict[str, Any]]:
        """create_table arguments per table, from the template's own KeySchema and attributes."""
        tables = {}
        for logical_id, resource in self.resources("AWS::DynamoDB::Table").items():
            properties = resource["Properties"]
            arguments = {key: properties[key] for key in ("KeySchema", "AttributeDefinitions", "BillingMode")}
            if "GlobalSecondaryIndexes" in properties:
                arguments["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
            if "StreamSpecification" in properties:
                arguments["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
            tables[self.physical_name(logical_id)] = arguments
        return tables

    def event_buses(self) -> list[str]:
        return [self.physical_name(logical_id) for logical_id in self.resources("AWS::Events::EventBus")]

    def stream_subscriptions(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(function logical id, table physical name, event properties) of each DynamoDB stream event."""
        return [
            (logical_id, self.physical_name(event["Properties"]["Stream"]["Fn::GetAtt"][0]), event["Properties"])
            for logical_id, resource in self.resources("AWS::Serverless::Function").items()
            for event in resource["Properties"].get("Events", {}).values()
            if event["Type"] == "DynamoDB"
        ]

    def buckets(self) -> list[str]:
        return [self.physical_name(logical_id) for logical_id in self.resources("AWS::S3::Bucket")]

    def state_machines(self) -> dict[str, str]:
        """Physical name -> definition, with DefinitionSubstitutions applied."""
        machines = {}
        for logical_id, resource in self.resources("AWS::Serverless::StateMachine").items():
            properties = resource["Properties"]
            definition = (self.root / properties["DefinitionUri"]).read_text()
            for name, value in self.resolve(properties.get("DefinitionSubstitutions", {})).items():
                definition = definition.replace("${" + name + "}", str(value))
            json.loads(definition)  # fail here, not inside moto, if a substitution broke it
            machines[self.physical_name(logical_id)] = definition
        return machines
