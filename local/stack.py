"""template.yaml read as a stack for the local run: tables, queues and secrets created on moto, function
environments resolved, and the HTTP routes, SQS sources (event source mappings) and schedules of each
function listed.

The template stays the single source of truth: a table, queue, route or setting added there is
picked up here without changing this file.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags (!Ref, !GetAtt, !Sub...) into their long form."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as plain data, intrinsic functions in their long form."""
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass
class HttpRoute:
    method: str
    path: str
    function: str

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\+?\}", r"(?P<\1>[^/]+)", self.path) + "$")


@dataclass
class Function:
    logical_id: str
    code_uri: str
    handler: str
    timeout: int
    http_routes: list[HttpRoute] = field(default_factory=list)
    sqs_sources: list[tuple[str, int]] = field(default_factory=list)  # (queue logical id, batch size)
    schedules: list[str] = field(default_factory=list)

    def load_handler(self) -> Callable[[dict, Any], Any]:
        """Import the handler the way Lambda would, as functions.<folder>.app."""
        module_name, attribute = self.handler.rsplit(".", 1)
        package = ".".join(Path(self.code_uri.rstrip("/")).parts)
        module = importlib.import_module(f"{package}.{module_name}")
        return getattr(module, attribute)


@dataclass
class Stack:
    """Names and URLs of the resources created locally, and the functions of the template."""

    template: dict[str, Any]
    parameters: dict[str, str]
    physical_ids: dict[str, str] = field(default_factory=dict)  # Ref value of each resource
    arns: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template["Resources"]

    def create_resources(self, dynamodb: Any, sqs: Any, scheduler: Any, kms: Any, prefix: str = "local") -> None:
        """Create every DynamoDB table, SQS queue (DLQs first), schedule group and KMS key of the template;
        IAM roles get an ARN only, and keys no policy (moto does not check permissions)."""
        queues = {key: value for key, value in self.resources.items() if value["Type"] == "AWS::SQS::Queue"}
        for logical_id in sorted(queues, key=lambda key: "RedrivePolicy" in queues[key].get("Properties", {})):
            self._create_queue(sqs, logical_id, queues[logical_id].get("Properties", {}), prefix)
        for logical_id, resource in self.resources.items():
            if resource["Type"] == "AWS::DynamoDB::Table":
                self._create_table(dynamodb, logical_id, resource["Properties"], prefix)
            elif resource["Type"] == "AWS::Scheduler::ScheduleGroup":
                name = str(self.resolve(resource["Properties"]["Name"]))
                if name not in {group["Name"] for group in scheduler.list_schedule_groups()["ScheduleGroups"]}:
                    scheduler.create_schedule_group(Name=name)
                self.physical_ids[logical_id] = self.names[logical_id] = name
            elif resource["Type"] == "AWS::KMS::Key":
                self._create_key(kms, logical_id, resource["Properties"], prefix)
            elif resource["Type"] == "AWS::IAM::Role":
                self.arns[logical_id] = f"arn:aws:iam::123456789012:role/{prefix}-{logical_id}"

    def create_secrets(self, secretsmanager: Any, values: dict[str, str], prefix: str = "local") -> None:
        """Create every Secrets Manager secret of the template, holding `values[key]` under the key the
        template would generate."""
        for logical_id, resource in self.resources.items():
            if resource["Type"] == "AWS::SecretsManager::Secret":
                key = resource["Properties"]["GenerateSecretString"]["GenerateStringKey"]
                arn = secretsmanager.create_secret(
                    Name=f"{prefix}-{logical_id}", SecretString=json.dumps({key: values[key]})
                )["ARN"]
                self.physical_ids[logical_id] = arn

    def _create_table(self, dynamodb: Any, logical_id: str, properties: dict[str, Any], prefix: str) -> None:
        name = f"{prefix}-{logical_id}"
        request: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "KeySchema": properties["KeySchema"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if "GlobalSecondaryIndexes" in properties:
            request["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
        existing = dynamodb.list_tables()["TableNames"]
        if name not in existing:
            dynamodb.create_table(**request)
            ttl = properties.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        self.physical_ids[logical_id] = name
        self.names[logical_id] = name
        self.arns[logical_id] = f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}"

    def _create_key(self, kms: Any, logical_id: str, properties: dict[str, Any], prefix: str) -> None:
        """A symmetric key, found again by its alias when the stack is created a second time."""
        alias = f"alias/{prefix}-{logical_id}"
        found = [entry for entry in kms.list_aliases()["Aliases"] if entry["AliasName"] == alias]
        if found:
            key = kms.describe_key(KeyId=found[0]["TargetKeyId"])["KeyMetadata"]
        else:
            key = kms.create_key(Description=properties.get("Description", logical_id))["KeyMetadata"]
            kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
        self.physical_ids[logical_id] = key["KeyId"]
        self.arns[logical_id] = key["Arn"]

    def _create_queue(self, sqs: Any, logical_id: str, properties: dict[str, Any], prefix: str) -> None:
        fifo = bool(properties.get("FifoQueue"))
        name = f"{prefix}-{logical_id}" + (".fifo" if fifo else "")
        attributes = {"VisibilityTimeout": str(properties.get("VisibilityTimeout", 30))}
        if fifo:
            attributes["FifoQueue"] = "true"
        redrive = properties.get("RedrivePolicy")
        if redrive:
            target, receives = self.resolve(redrive["deadLetterTargetArn"]), self.resolve(redrive["maxReceiveCount"])
            attributes["RedrivePolicy"] = f'{{"deadLetterTargetArn": "{target}", "maxReceiveCount": "{receives}"}}'
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.physical_ids[logical_id] = url
        self.names[logical_id] = name
        self.arns[logical_id] = arn

    def resolve(self, value: Any) -> Any:
        """Resolve Ref, GetAtt, Sub, If and FindInMap against the local resources and parameters."""
        if not isinstance(value, dict) or len(value) != 1:
            return value
        ((function, argument),) = value.items()
        if function == "Ref":
            if argument in self.parameters:
                return self.parameters[argument]
            return self.physical_ids.get(argument, argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument
            return self.arns[logical_id] if attribute == "Arn" else self.names[logical_id]
        if function == "Fn::Sub":
            return re.sub(r"\$\{([\w:.]+)\}", lambda match: str(self.resolve({"Ref": match.group(1)})), argument)
        if function == "Fn::If":
            return self.resolve(argument[2])
        if function == "Fn::FindInMap":
            mapping, key, name = (str(self.resolve(part)) for part in argument)
            return self.template["Mappings"][mapping][key][name]
        return value

    def environment(self, function_id: str | None = None) -> dict[str, str]:
        """The environment a function sees: Globals plus its own variables, all resolved. Without a
        function, every function's variables: the local run serves them all from one process."""
        return {key: str(self.resolve(value)) for key, value in self.variables(function_id).items()}

    def variables(self, function_id: str | None = None) -> dict[str, Any]:
        """A function's environment variables as the template writes them (Globals plus its own, unresolved);
        without a function, every function's."""
        variables = dict(
            self.template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        )
        for logical_id in [function_id] if function_id else self.function_ids():
            variables.update(self.resources[logical_id]["Properties"].get("Environment", {}).get("Variables", {}))
        return variables

    def function_ids(self) -> list[str]:
        """The logical ids of the template's functions."""
        return [key for key, value in self.resources.items() if value["Type"] == "AWS::Serverless::Function"]

    def functions(self) -> list[Function]:
        """The template's functions with their event sources: HTTP routes and schedules from their
        events, SQS queues from the event source mappings that name them."""
        timeout = int(self.template.get("Globals", {}).get("Function", {}).get("Timeout", 3))
        found = {}
        for logical_id in self.function_ids():
            properties = self.resources[logical_id]["Properties"]
            function = Function(
                logical_id, properties["CodeUri"], properties["Handler"], int(properties.get("Timeout", timeout))
            )
            for event in properties.get("Events", {}).values():
                source = event.get("Properties", {})
                if event["Type"] == "HttpApi":
                    function.http_routes.append(HttpRoute(source["Method"].upper(), source["Path"], logical_id))
                elif event["Type"] == "Schedule":
                    function.schedules.append(logical_id)
            found[logical_id] = function
        for resource in self.resources.values():
            if resource["Type"] == "AWS::Lambda::EventSourceMapping":
                mapping = resource["Properties"]
                queue = mapping["EventSourceArn"]["Fn::GetAtt"][0]
                found[mapping["FunctionName"]["Ref"]].sqs_sources.append((queue, int(mapping.get("BatchSize", 10))))
        return list(found.values())


def parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    """Default values of the template's parameters."""
    return {name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items() if "Default" in spec}
