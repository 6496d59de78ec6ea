#!/usr/bin/env python3
"""Deploys a SAM template into the emulator's CloudFormation, as `sam package`
and `sam deploy` would, and reports what the stack made.

Steps, each what the real tools do:

1. The template is read as CloudFormation YAML (cfn-lint's reader: short
   forms such as ``!Ref`` become ``Ref``).
2. Every ``AWS::Serverless::Function`` whose ``CodeUri`` is a local path gets
   an S3 location instead, holding a zip with a ``bootstrap`` placeholder
   (``sam package`` uploads the built code there; the emulator never runs
   it: the real function binary runs behind the local Lambda runtime).
3. The SAM translator (``aws-sam-translator``, the library the service's
   ``AWS::Serverless-2016-10-31`` transform is) turns it into plain
   CloudFormation.
4. The stack is created with the capabilities the templates document
   (CAPABILITY_IAM, CAPABILITY_RESOURCE_POLICY).

Where the emulator (moto) falls short, this harness works around it, never
the template:

* moto resolves ``Fn::If`` to ``Ref AWS::NoValue`` inside a list (a role's
  ``Policies``) as an empty item and then fails to create the role; the
  harness evaluates every condition with the stack's parameters and
  resolves each ``Fn::If`` before handing the template over, dropping
  ``AWS::NoValue`` as CloudFormation does.
* Resource types moto cannot create (``AWS::CloudWatch::Alarm``,
  ``AWS::Logs::QueryDefinition``) are skipped by moto; they are reported
  under ``skipped_types``.

Prints one JSON object: the stack's status and outputs, the transformed
template (before the workaround), and for each function the stack made its
environment and the inline policies of its role, read back from the
emulator's Lambda and IAM.

``--recreate`` deletes the stack afterwards and creates it again under the
same name (what ``sam delete`` then ``sam deploy`` does), reporting both.
"""

import argparse
import ast
import copy
import io
import json
import os
import sys
import warnings
import zipfile

import boto3
from botocore.config import Config
from cfnlint.decode import decode_str
from samtranslator.translator.transform import transform

PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_RESOURCE_POLICY", "CAPABILITY_AUTO_EXPAND"]
NO_VALUE = object()


class NoManagedPolicies:
    """The translator's managed-policy lookup: the templates name none."""

    def load(self):
        return {}


def read_template(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    template, matches = decode_str(text)
    if matches:
        raise SystemExit("%s: %s" % (path, "; ".join(str(m) for m in matches)))
    # Plain dicts and strings (cfn-lint's nodes carry line marks).
    return json.loads(json.dumps(template))


def package(template, s3, bucket):
    """Local CodeUri -> s3://bucket/key, as `sam package` does."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bootstrap", "#!/bin/sh\n# placeholder: the real binary runs locally\n")
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.setdefault("Properties", {})
        code = properties.get("CodeUri")
        if isinstance(code, str) and not code.startswith("s3://"):
            key = "packages/%s.zip" % name
            s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
            properties["CodeUri"] = "s3://%s/%s" % (bucket, key)


def parameter_values(template, given):
    values = dict(PSEUDO)
    for name, spec in template.get("Parameters", {}).items():
        if name in given:
            values[name] = given[name]
        elif "Default" in spec:
            values[name] = spec["Default"]
        else:
            raise SystemExit("parameter %s has no default and was not given" % name)
        if spec.get("Type") == "CommaDelimitedList" and isinstance(values[name], str):
            values[name] = values[name].split(",") if values[name] != "" else [""]
    return values


def evaluate(node, values, conditions):
    """The value of an intrinsic-function expression in a condition."""
    if isinstance(node, dict) and len(node) == 1:
        (key, arg), = node.items()
        if key == "Ref":
            return values[arg]
        if key == "Fn::Equals":
            a, b = (evaluate(x, values, conditions) for x in arg)
            return str(a) == str(b)
        if key == "Fn::Not":
            return not evaluate(arg[0], values, conditions)
        if key == "Fn::And":
            return all(evaluate(x, values, conditions) for x in arg)
        if key == "Fn::Or":
            return any(evaluate(x, values, conditions) for x in arg)
        if key == "Condition":
            return conditions[arg]
        if key == "Fn::Join":
            items = evaluate(arg[1], values, conditions)
            return arg[0].join(str(evaluate(i, values, conditions)) for i in items)
    if isinstance(node, list):
        return [evaluate(x, values, conditions) for x in node]
    return node


def condition_values(template, values):
    conditions = {}
    pending = dict(template.get("Conditions", {}))
    while pending:
        progressed = False
        for name, expression in list(pending.items()):
            try:
                conditions[name] = bool(evaluate(expression, values, conditions))
            except KeyError:
                continue
            del pending[name]
            progressed = True
        if not progressed:
            raise SystemExit("conditions that cannot be evaluated: %s" % sorted(pending))
    return conditions


def resolve_ifs(node, conditions):
    """Every Fn::If replaced by its branch; AWS::NoValue dropped."""
    if isinstance(node, dict):
        if len(node) == 1 and "Fn::If" in node:
            name, yes, no = node["Fn::If"]
            return resolve_ifs(yes if conditions[name] else no, conditions)
        if node == {"Ref": "AWS::NoValue"}:
            return NO_VALUE
        out = {}
        for key, value in node.items():
            value = resolve_ifs(value, conditions)
            if value is not NO_VALUE:
                out[key] = value
        return out
    if isinstance(node, list):
        return [v for v in (resolve_ifs(x, conditions) for x in node) if v is not NO_VALUE]
    return node


def clients(endpoint):
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=PSEUDO["AWS::Region"]
    )
    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2})
    return {
        name: session.client(name, endpoint_url=endpoint, config=config)
        for name in ("cloudformation", "s3", "lambda", "iam")
    }


def create(aws, stack, body, parameters):
    try:
        aws["cloudformation"].create_stack(
            StackName=stack,
            TemplateBody=json.dumps(body),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=CAPABILITIES,
        )
    except Exception as error:  # moto creates the resources inside the call
        return {"status": "CREATE_FAILED", "reason": str(error), "outputs": {}}
    described = aws["cloudformation"].describe_stacks(StackName=stack)["Stacks"][0]
    status = described["StackStatus"]
    reason = described.get("StackStatusReason")
    if status != "CREATE_COMPLETE":
        events = aws["cloudformation"].describe_stack_events(StackName=stack)["StackEvents"]
        reason = "; ".join(
            "%s %s %s" % (e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", ""))
            for e in events
            if "FAILED" in e["ResourceStatus"]
        ) or reason
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return {"status": status, "reason": reason, "outputs": outputs}


def policy_document(document):
    """A role policy as IAM returns it: JSON (URL-decoded by boto3), or, from
    moto for a policy CloudFormation gave as an object, that object's
    Python text."""
    if not isinstance(document, str):
        return document
    try:
        return json.loads(document)
    except ValueError:
        return ast.literal_eval(document)


def functions_of(aws, stack):
    """Each function the stack made: its environment and role policies."""
    found = {}
    resources = aws["cloudformation"].describe_stack_resources(StackName=stack)["StackResources"]
    for resource in resources:
        if resource.get("ResourceType") != "AWS::Lambda::Function":
            continue
        config = aws["lambda"].get_function_configuration(FunctionName=resource["PhysicalResourceId"])
        role = config["Role"].rsplit("/", 1)[-1]
        policies = {}
        for name in aws["iam"].list_role_policies(RoleName=role)["PolicyNames"]:
            document = aws["iam"].get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            policies[name] = policy_document(document)
        found[resource["LogicalResourceId"]] = {
            "name": config["FunctionName"],
            "arn": config["FunctionArn"],
            "environment": config.get("Environment", {}).get("Variables", {}),
            "role_policies": policies,
            "managed_policies": [
                p["PolicyArn"]
                for p in aws["iam"].list_attached_role_policies(RoleName=role)["AttachedPolicies"]
            ],
        }
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", required=True)
    parser.add_argument("--endpoint", required=True, help="the emulator's URL")
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--parameters", default="{}", help="JSON object of parameter values")
    parser.add_argument("--recreate", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("AWS_DEFAULT_REGION", PSEUDO["AWS::Region"])
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    given = json.loads(args.parameters)

    aws = clients(args.endpoint)
    bucket = "sam-packages"
    try:
        aws["s3"].create_bucket(Bucket=bucket)
    except aws["s3"].exceptions.BucketAlreadyOwnedByYou:
        pass
    template = read_template(args.template)
    package(template, aws["s3"], bucket)
    transformed = transform(copy.deepcopy(template), dict(given), NoManagedPolicies())
    values = parameter_values(transformed, given)
    conditions = condition_values(transformed, values)
    for_emulator = resolve_ifs(copy.deepcopy(transformed), conditions)
    skipped = sorted(
        {
            r["Type"]
            for name, r in for_emulator.get("Resources", {}).items()
            if r["Type"] in ("AWS::CloudWatch::Alarm", "AWS::Logs::QueryDefinition")
            and conditions.get(r.get("Condition"), True)
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = {
            "transformed": transformed,
            "conditions": conditions,
            "skipped_types": skipped,
            "first": create(aws, args.stack_name, for_emulator, given),
        }
        if report["first"]["status"] == "CREATE_COMPLETE":
            report["functions"] = functions_of(aws, args.stack_name)
        if args.recreate:
            aws["cloudformation"].delete_stack(StackName=args.stack_name)
            report["recreated"] = create(aws, args.stack_name, for_emulator, given)
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
