"""Drives hvac (Debian's python3-hvac) against a running ScaiVault for the Vault-dialect tests.

Reads one JSON document from stdin, so the token never appears on a command line:
  {"url": ..., "token": ..., "namespace": optional, "calls": [{"fn": "secrets.kv.v2.read_secret_version", "kwargs": {...}}, ...]}
A call may instead be {"adapter": "post", "url": "/v1/...", "kwargs": {...}} for requests hvac 0.11 has no method for.
Prints one JSON list: per call {"ok": result} or {"error": exception class, "errors": [...]}.
"""
import json
import sys

import hvac
import requests


def resolve(client, dotted):
    target = client
    for part in dotted.split("."):
        target = getattr(target, part)
    return target


def as_json(result):
    if isinstance(result, requests.Response):
        body = None
        if result.content:
            try:
                body = result.json()
            except ValueError:
                body = result.text
        return {"status": result.status_code, "body": body}
    if isinstance(result, bool):
        return result
    return result


def main():
    spec = json.load(sys.stdin)
    client = hvac.Client(url=spec["url"], token=spec.get("token"), namespace=spec.get("namespace"))
    out = []
    for call in spec["calls"]:
        try:
            if "adapter" in call:
                fn = getattr(client.adapter, call["adapter"])
                result = fn(call["url"], **call.get("kwargs", {}))
            else:
                result = resolve(client, call["fn"])(**call.get("kwargs", {}))
            out.append({"ok": as_json(result)})
        except hvac.exceptions.VaultError as err:
            out.append({"error": type(err).__name__, "errors": getattr(err, "errors", None), "message": str(err)})
    json.dump(out, sys.stdout)


main()
