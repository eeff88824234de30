"""The dashboard, the alarms, the README and the runbook name only metrics the code emits, with the
dimensions (and dimension values) it emits them with; every metric the code emits is on the dashboard or
deliberately left off; every function and queue of the template is watched."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import pytest

from local.stack import ROOT, load_template

NAMESPACE = "KommoSalesAssistant"
LAYER = ROOT / "layers" / "common" / "sales_assistant"
LEFT_OFF = {  # emitted, deliberately not on the dashboard: in the logs' detail, or too fine to chart
    "DeliveriesConfirmedByEcho",  # part of RepliesDelivered
    "DeliveriesAmbiguous",  # followed by DeliveriesUnconfirmed or an echo
    "TriggersRepeated",
    "AppointmentsRepeated",  # a retried booking with its idempotency key: AppointmentsBooked counts once
    "VendorSyncs",
    "VendorsLeft",
    "WebhookEventsAccepted",  # WebhooksAccepted is charted
    "VendorProfilesInvalid",  # logged with the salesperson's id; the next sync stores a valid profile
    "VendorListForwardFailed",  # logged with the reason; the next sync sends the salesperson list again
    "ConsentChanges",  # by status (opted_out, opted_in): each one noted on its lead, GET /contacts/{id}/consent
    "ContactsErased",  # an operator's request, answered with what was erased where
    "CommandNotesDeferred",  # a command's note queued while Kommo refused it: written when Kommo is back
}
Metric = tuple[str, tuple[str, ...]]  # name and its dimensions besides `service`
DOCS = ("README.md", "docs/runbook.md")
NOT_METRICS = {"KommoSalesAssistant", "SecretsArn"}  # the namespace; the secret of earlier versions
# `Name`, `Name{dimension}`, `Name{dimension=value}`, `Name` by dimension, `Name` by dimension (value, value)
MENTION = re.compile(
    r"`([A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+)(?:\{(\w+)(?:=(\w+))?\})?`(?:\s+by\s+(\w+)(?:\s+\(([\w,\s]+)\))?)?"
)


def emitted_metrics() -> set[Metric]:
    """Every (name, dimensions) the layer emits: count(...) (its total and, with dimensions, per
    dimension), measure(...) and metrics.add_metric(name=...)."""
    found: set[Metric] = set()
    for path in LAYER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            function = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if function in ("count", "measure") and node.args and isinstance(node.args[0], ast.Constant):
                name = str(node.args[0].value)
                found.add((name, ()))
                dimensions = tuple(sorted(keyword.arg for keyword in node.keywords if keyword.arg))
                if function == "count" and dimensions:
                    found.add((name, dimensions))
            elif function == "add_metric":
                name_argument = next(keyword.value for keyword in node.keywords if keyword.arg == "name")
                if isinstance(name_argument, ast.Constant):
                    found.add((str(name_argument.value), ()))
    return found


def code_strings() -> set[str]:
    """Every string constant of the layer (where a dimension's values come from)."""
    return {
        node.value
        for path in LAYER.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def documented_metrics(text: str, template: dict[str, Any]) -> list[tuple[Metric, list[str]]]:
    """The metrics a doc names in backticks, with the dimension and the values it gives them (any other
    CamelCase name in backticks is a template resource, output or parameter, or one of NOT_METRICS)."""
    others = NOT_METRICS.union(*(template.get(section, {}) for section in ("Resources", "Outputs", "Parameters")))
    mentions: list[tuple[Metric, list[str]]] = []
    for name, braced, value, by, values in MENTION.findall(text):
        if name not in others:
            dimension = braced or by
            mentions.append(((name, (dimension,) if dimension else ()), re.findall(r"\w+", value or values)))
    return mentions


def dashboard(template: dict[str, Any], name: str = "OperationsDashboard") -> dict[str, Any]:
    body = template["Resources"][name]["Properties"]["DashboardBody"]["Fn::Sub"]
    return dict(json.loads(re.sub(r"\$\{[^}]+\}", "x", body)))


def dashboard_metrics(template: dict[str, Any]) -> set[Metric]:
    """Our namespace's metrics on the dashboards (operations and sales): explicit ones and SEARCH expressions."""
    named: set[Metric] = set()
    widgets = [
        widget for name in ("OperationsDashboard", "SalesDashboard") for widget in dashboard(template, name)["widgets"]
    ]
    for widget in widgets:
        for line in widget["properties"]["metrics"]:
            if isinstance(line[0], dict):
                for dims, name in re.findall(
                    rf"\{{{NAMESPACE},service,([\w,]+)\}} MetricName=\"(\w+)\"", line[0]["expression"]
                ):
                    named.add((name, tuple(sorted(dims.split(",")))))
            elif line[0] == NAMESPACE:
                pairs = [part for part in line[2:] if not isinstance(part, dict)]
                keys = pairs[0::2]
                assert keys[0] == "service", line
                named.add((line[1], tuple(sorted(keys[1:]))))
    return named


def alarm_metrics(template: dict[str, Any]) -> set[Metric]:
    """Our namespace's metrics named by alarms (plain or in metric math)."""
    named: set[Metric] = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        properties = resource["Properties"]
        stats = [properties] + [
            query["MetricStat"]["Metric"] for query in properties.get("Metrics", []) if "MetricStat" in query
        ]
        for stat in stats:
            if stat.get("Namespace") == NAMESPACE:
                keys = [dimension["Name"] for dimension in stat["Dimensions"]]
                assert keys[0] == "service", stat
                named.add((stat["MetricName"], tuple(sorted(keys[1:]))))
    return named


def test_the_scan_sees_the_code_emit_metrics() -> None:
    emitted = emitted_metrics()
    assert {("WebhooksReceived", ()), ("N8nFallbacks", ("reason",)), ("N8nLatency", ()), ("BotsPaused", ())} <= emitted
    assert ("HealthCheckFailed", ("check",)) in emitted


def test_the_dashboard_and_alarms_name_only_what_the_code_emits() -> None:
    template = load_template()
    named = dashboard_metrics(template) | alarm_metrics(template)
    assert named - emitted_metrics() == set()


def test_every_emitted_metric_is_on_the_dashboard_or_left_off_deliberately() -> None:
    on_dashboard = {name for name, _ in dashboard_metrics(load_template())}
    emitted = {name for name, _ in emitted_metrics()}
    assert emitted - on_dashboard - LEFT_OFF == set()
    assert emitted >= LEFT_OFF and not LEFT_OFF & on_dashboard


def test_every_function_and_queue_is_watched() -> None:
    template = load_template()
    resources = template["Resources"]
    body = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    functions = [key for key, value in resources.items() if value["Type"] == "AWS::Serverless::Function"]
    queues = [key for key, value in resources.items() if value["Type"] == "AWS::SQS::Queue"]
    for function_id in functions:
        for metric in ("Errors", "Throttles", "Duration"):
            assert f'["AWS/Lambda","{metric}","FunctionName","${{{function_id}}}"' in body, (function_id, metric)
    for queue_id in queues:
        metric = "ApproximateNumberOfMessagesVisible" if queue_id.endswith("DLQ") else "ApproximateAgeOfOldestMessage"
        assert f'["AWS/SQS","{metric}","QueueName","${{{queue_id}.QueueName}}"' in body, queue_id
    math = [
        query["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
        for alarm_id in ("FunctionErrorsAlarm", "FunctionThrottlesAlarm")
        for query in resources[alarm_id]["Properties"]["Metrics"]
        if "MetricStat" in query
    ]
    assert sorted(math) == sorted(functions * 2)
    dead_letter_alarms = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in resources.values()
        if alarm["Type"] == "AWS::CloudWatch::Alarm"
        and alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    }
    assert dead_letter_alarms == {queue_id for queue_id in queues if queue_id.endswith("DLQ")}


def test_one_alarm_per_health_check_and_every_alarm_notifies_the_topic() -> None:
    from sales_assistant.services.health import CHECKS

    resources = load_template()["Resources"]
    alarms = [resource["Properties"] for resource in resources.values() if resource["Type"] == "AWS::CloudWatch::Alarm"]
    checks = sorted(
        dimension["Value"]
        for alarm in alarms
        if alarm.get("MetricName") == "HealthCheckFailed"
        for dimension in alarm["Dimensions"]
        if dimension["Name"] == "check"
    )
    assert checks == sorted(CHECKS)
    topic = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}], [{"Ref": "AlarmTopic"}]]}
    assert all(alarm["AlarmActions"] == topic for alarm in alarms)


def test_the_runbook_names_every_alarm() -> None:
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    alarms = [key for key, value in load_template()["Resources"].items() if value["Type"] == "AWS::CloudWatch::Alarm"]
    assert [alarm for alarm in alarms if f"`{alarm}`" not in runbook] == []


@pytest.mark.parametrize("doc", DOCS)
def test_the_readme_and_the_runbook_name_only_metrics_the_code_emits(doc: str) -> None:
    """An operator searching CloudWatch for a metric the docs name finds it: the name, its dimension and the
    values they give it (`RepliesSkipped{reason=paused}`, not a `RepliesSkippedPaused` nobody emits)."""
    mentioned = documented_metrics((ROOT / doc).read_text(), load_template())
    emitted, strings = emitted_metrics(), code_strings()
    assert len(mentioned) >= 5, doc  # the scan reads the doc's metric names
    assert [(metric, values) for metric, values in mentioned if metric not in emitted] == []
    assert [(metric, value) for metric, values in mentioned for value in values if value not in strings] == []
