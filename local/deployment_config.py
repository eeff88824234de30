"""One configuration file per deployment, `config/<stage>.toml` (config/example.toml shows every key).

Its keys are template.yaml's parameter names (`KommoSalesbotId = 4512`), so every value a stack takes can be
in it. The settings each function gets come from those parameters through the template itself:
`variable_parameters` reads which environment variable each parameter sets (`KOMMO_SALESBOT_ID: !Ref
KommoSalesbotId`), the one table from which the deploy's parameters, `make run`'s settings and
events/env.json are all made. Secrets are never in the file: they stay in Secrets Manager (the local run's
in `LOCAL_SECRETS`).

A TOML value becomes the parameter's string: numbers as written, booleans as `true`/`false`, a table as
JSON (`TemplateFields = { nome = 1234 }`), a list as JSON for a parameter whose value is a JSON list
(`TriggerRules = [{ kind = "form", pipeline_id = 7001 }]`) and comma-separated for the others
(`AssistantStatusIds = [61234568, 61234569]`).

The API (also for scripts/setup.py and scripts/doctor.py):
- `load_deployment(path)`: a deployment's file over the template's defaults, checked as `sam deploy` and the
  functions would check it;
- `local_run_deployment(path, environ, kommo_sandbox=...)`: what `make run` uses: the embedded defaults,
  the file over them, the environment variables over both;
- both give a `Deployment`: `.parameters` (every template parameter with a value), `.sources` (where each
  came from), `.environment(function_id=None)` (the settings the parameters give a function, variable ->
  value), `.environments()` (per function: events/env.json), `.settings()` (the validated `Settings`) and
  `.parameter_overrides()` (for `sam deploy`);
- `config_path(environ)`: the file `make` uses: CONFIG, else config/local.toml when it exists;
- `ConfigError`: what is wrong, each problem naming its key and where its value came from.

`python -m local.deployment_config config/prod.toml` (`make deploy-params`) prints the parameter overrides.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from local.defaults import EXAMPLE_SETTINGS, LOCAL_RUN_PARAMETERS, PSEUDO_PARAMETERS, SANDBOX_ACCOUNT
from local.stack import ROOT, Stack, load_template, parameter_defaults

if TYPE_CHECKING:
    from sales_assistant.config import Settings

CONFIG_VARIABLE = "CONFIG"
LOCAL_CONFIG = ROOT / "config" / "local.toml"
SAMCONFIG = ROOT / "samconfig.toml"
_ESCAPE = re.compile(r"\\.")
_JSON_ESCAPES = {'\\"': "\\u0022", "\\\\": "\\u005c"}


class ConfigError(ValueError):
    """A configuration that cannot be used: one line per problem, naming the key and where its value came from."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {problem}" for problem in problems))


@dataclass(frozen=True)
class Deployment:
    """A deployment's template parameters, where each value came from, and the settings they give the functions."""

    parameters: dict[str, str]  # every template parameter that has a value
    sources: dict[str, str]  # parameter -> where its value came from (a file, an environment variable, a default)
    pseudo_parameters: dict[str, str]  # AWS::StackName and AWS::Region
    template: dict[str, Any] = field(repr=False)

    def environment(self, function_id: str | None = None) -> dict[str, str]:
        """The environment variables the parameters give a function (every function's without one). Those
        naming the stack's resources (tables, queues, generated secrets) are not the configuration's: left out."""
        stack = Stack(self.template, {**self.parameters, **self.pseudo_parameters})
        return {
            name: str(stack.resolve(value))
            for name, value in stack.variables(function_id).items()
            if _from_parameters(value, stack.parameters)
        }

    def environments(self) -> dict[str, dict[str, str]]:
        """Function logical id -> its environment, as `sam local invoke --env-vars` reads them."""
        return {function_id: self.environment(function_id) for function_id in Stack(self.template, {}).function_ids()}

    def settings(self) -> Settings:
        """The functions' settings from these parameters, validated by the `Settings` the functions use (the
        tables and queues, not parameters, take placeholders); ConfigError naming each wrong parameter."""
        from sales_assistant.config import Settings  # the layer is on sys.path once the local run starts

        environment = {**EXAMPLE_SETTINGS, **self.environment()}
        try:
            return Settings.model_validate({name: value for name, value in environment.items() if value != ""})
        except ValidationError as error:
            raise ConfigError([self._settings_problem(item["loc"], item["msg"]) for item in error.errors()]) from None

    def parameter_overrides(self) -> str:
        """Every parameter as `sam deploy --parameter-overrides` takes them (`Key=value Key2="a value"`), so a
        parameter left out of the file gets the template's default rather than the stack's previous value."""
        return " ".join(_sam_override(name, value) for name, value in self.parameters.items())

    def template_problems(self) -> list[str]:
        """The values CloudFormation would refuse (allowed values, patterns, lengths, number ranges)."""
        problems = []
        for name, spec in self.template["Parameters"].items():
            broken = _broken_constraint(spec, self.parameters[name]) if name in self.parameters else ""
            if broken:
                problems.append(f"{self._described(name)}: {broken}")
        return problems

    def _settings_problem(self, location: tuple[int | str, ...], message: str) -> str:
        table = variable_parameters(self.template)
        message = message.removeprefix("Value error, ")
        if location:
            message = f"{location[0]}: {message}"
        named = [parameter for variable, parameter in table.items() if re.search(rf"\b{variable}\b", message)]
        return f"{', '.join(self._described(name) for name in dict.fromkeys(named))}: {message}" if named else message

    def _described(self, name: str) -> str:
        return f"{name} = {self.parameters.get(name, '')!r} (from {self.sources.get(name, 'nowhere')})"


def variable_parameters(template: Mapping[str, Any]) -> dict[str, str]:
    """Environment variable -> the template parameter it is set from (`KOMMO_SALESBOT_ID: !Ref KommoSalesbotId`),
    over the Globals and every function: the one table between a stack's parameters and the functions' settings."""
    return {
        variable: value["Ref"]
        for variable, value in Stack(dict(template), {}).variables().items()
        if isinstance(value, dict) and value.get("Ref") in template["Parameters"]
    }


def read_parameters(path: Path, template: Mapping[str, Any]) -> dict[str, str]:
    """The template parameters a configuration file sets, each as the string CloudFormation takes;
    ConfigError naming the file and every key that is not a parameter."""
    shown = _shown(path)
    try:
        written = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{shown}: no such file (start from config/example.toml)"]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{shown}: not valid TOML: {error}"]) from None
    specs = template["Parameters"]
    unknown = [_unknown_key(shown, key, template) for key in written if key not in specs]
    if unknown:
        raise ConfigError(unknown)
    return {key: _parameter_value(value, specs[key]) for key, value in written.items()}


def load_deployment(path: Path) -> Deployment:
    """A deployment's configuration file over the template's defaults, checked as `sam deploy` would check the
    parameters (every one the template requires, their allowed values) and as the functions check their
    settings on the file's stage; ConfigError naming every wrong key otherwise."""
    template = load_template()
    shown = _shown(path)
    written = read_parameters(path, template)
    defaults = parameter_defaults(template)
    given = {**defaults, **written}
    parameters = {name: given[name] for name in template["Parameters"] if name in given}  # in the template's order
    sources = {**dict.fromkeys(defaults, "template.yaml's default"), **dict.fromkeys(written, shown)}
    deployment = Deployment(parameters, sources, _deployed_pseudo_parameters(parameters["Stage"]), template)
    required = ["Stage", *(name for name in template["Parameters"] if name not in defaults)]
    missing = [name for name in required if name not in written]
    problems = [f"{shown}: {name} is required: {_description(template, name)}" for name in missing]
    problems += deployment.template_problems()
    if problems:
        raise ConfigError(problems)
    deployment.settings()
    return deployment


def local_run_deployment(path: Path | None, environ: Mapping[str, str], *, kommo_sandbox: bool) -> Deployment:
    """What `make run` gives the functions: the embedded defaults (LOCAL_RUN_PARAMETERS), the configuration file
    over them and the environment variables over both (`KOMMO_SALESBOT_ID=555 make run`), on the local stage.
    With the Kommo sandbox, the account is the sandbox's (subdomain, account id, webhook) whatever the file
    says: its webhooks would be refused otherwise. Validated by `Settings` on the local stage."""
    template = load_template()
    layers = [("the local run's defaults", {**parameter_defaults(template), **LOCAL_RUN_PARAMETERS})]
    if path is not None:
        layers.append((_shown(path), read_parameters(path, template)))
    for variable, parameter in variable_parameters(template).items():
        if variable in environ:
            layers.append((f"the environment variable {variable}", {parameter: environ[variable]}))
    layers.append(("the local run, always on the local stage", {"Stage": "local"}))
    if kommo_sandbox:
        layers.append(("the Kommo sandbox's account (KOMMO_BASE_URL unset)", SANDBOX_ACCOUNT))
    parameters: dict[str, str] = {}
    sources: dict[str, str] = {}
    for source, values in layers:
        parameters.update(values)
        sources.update(dict.fromkeys(values, source))
    deployment = Deployment(parameters, sources, dict(PSEUDO_PARAMETERS), template)
    deployment.settings()
    return deployment


def config_path(environ: Mapping[str, str]) -> Path | None:
    """The configuration file `make run` and `make events` use: CONFIG when set, else config/local.toml when it
    exists; None: the embedded defaults alone."""
    if environ.get(CONFIG_VARIABLE):
        return Path(environ[CONFIG_VARIABLE])
    return LOCAL_CONFIG if LOCAL_CONFIG.exists() else None


def _parameter_value(value: Any, spec: Mapping[str, Any]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict) or (isinstance(value, list) and str(spec.get("Default", "")).startswith("[")):
        # quotes and backslashes in JSON strings as \u0022 and \u005c: sam deploy unescapes \" and "\ "
        encoded = json.dumps(value, ensure_ascii=False)
        return _ESCAPE.sub(lambda escape: _JSON_ESCAPES.get(escape.group(), escape.group()), encoded)
    if isinstance(value, list):
        return ",".join(_parameter_value(item, spec) for item in value)
    return str(value)


def _unknown_key(shown: str, key: str, template: Mapping[str, Any]) -> str:
    from sales_assistant.config import SECRETS

    if any(key.upper() in names for names in SECRETS.values()):
        return f"{shown}: {key} is a secret: it goes into Secrets Manager (README, Deploy), never into this file"
    parameter = variable_parameters(template).get(key.upper())
    if parameter:
        return f"{shown}: {key}: write it as {parameter} (the keys are template.yaml's parameter names)"
    close = difflib.get_close_matches(key, list(template["Parameters"]), n=1)
    return f"{shown}: {key} is not a parameter of template.yaml" + (f"; did you mean {close[0]}?" if close else "")


def _broken_constraint(spec: Mapping[str, Any], value: str) -> str:
    """What CloudFormation would say of `value` for a parameter declared as `spec`; "" when it takes it."""
    allowed = [str(option) for option in spec.get("AllowedValues", [])]
    if allowed and value not in allowed:
        return f"must be one of {', '.join(allowed)}"
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        return f"must match {spec['AllowedPattern']}"
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        return f"must be at most {spec['MaxLength']} characters"
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return "must be a number"
        if number < float(spec.get("MinValue", number)) or number > float(spec.get("MaxValue", number)):
            return f"must be from {spec.get('MinValue', '-inf')} to {spec.get('MaxValue', 'inf')}"
    return ""


def _from_parameters(value: Any, known: Mapping[str, str]) -> bool:
    """Whether a template value is made of literals and parameters with a value alone (no resource)."""
    if not isinstance(value, dict):
        return True
    ((function, argument),) = value.items()
    if function == "Ref":
        return argument in known
    if function == "Fn::Sub" and isinstance(argument, str):
        return all(name in known for name in re.findall(r"\$\{([\w:.]+)\}", argument))
    if function == "Fn::FindInMap":
        return all(_from_parameters(part, known) for part in argument)
    return False  # GetAtt names a resource; If, a condition not evaluated here


def _sam_override(name: str, value: str) -> str:
    """`Name=value`, quoted as sam deploy reads it back (it unquotes a value and unescapes its \\")."""
    if value and not re.search(r"[\s\"'\\]", value):
        return f"{name}={value}"
    return f'{name}="' + value.replace('"', '\\"') + '"'


def _deployed_pseudo_parameters(stage: str) -> dict[str, str]:
    """The stack name and region samconfig.toml deploys a stage to (`sam deploy --config-env <stage>`)."""
    environment = tomllib.loads(SAMCONFIG.read_text()).get(stage, {})
    return {
        "AWS::StackName": environment.get("global", {}).get("parameters", {}).get("stack_name", "")
        or f"kommo-sales-assistant-{stage}",
        "AWS::Region": environment.get("deploy", {}).get("parameters", {}).get("region", "") or "us-east-1",
    }


def _description(template: Mapping[str, Any], name: str) -> str:
    spec = template["Parameters"][name]
    allowed = ", ".join(str(option) for option in spec.get("AllowedValues", []))
    return " ".join(str(spec.get("Description", f"one of {allowed}")).split())


def _shown(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Print the `sam deploy --parameter-overrides` of a deployment's configuration file, checked."
    )
    parser.add_argument("config", type=Path, help="the deployment's file, config/<stage>.toml")
    args = parser.parse_args(argv)
    try:
        deployment = load_deployment(args.config)
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    print(deployment.parameter_overrides())


if __name__ == "__main__":
    main()
