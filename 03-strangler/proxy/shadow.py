"""The parallel run: compare the monolith's answer with the service's answer to the same read.

The client always gets the monolith's answer; the comparison happens afterwards, in the
background, and only counts. A difference is evidence to read in /_proxy/stats before a
route moves on to `canary` or `service`.
"""

import json
import time
from typing import Any

MAX_REPORTED_PATHS = 5  # per difference: enough to see the pattern, short enough to read
_NOT_JSON = object()


def compare(
    monolith: tuple[int, bytes], service: tuple[int, bytes], ignore: tuple[str, ...] = ()
) -> list[str]:
    """What differs between two (status, body) answers; empty when they agree.

    Bodies are compared as JSON with the `ignore`d keys removed at any depth (timestamps,
    ids a service numbers differently); a body that is not JSON is compared byte for byte.
    """
    differences = []
    if monolith[0] != service[0]:
        differences.append(f"status: monolith={monolith[0]} service={service[0]}")
    monolith_json, service_json = _parse(monolith[1]), _parse(service[1])
    if monolith_json is _NOT_JSON or service_json is _NOT_JSON:
        if monolith[1] != service[1]:
            differences.append("body: not JSON, and the bytes differ")
        return differences
    ignored = frozenset(ignore)
    differences += _differences(
        "body", _without(monolith_json, ignored), _without(service_json, ignored)
    )
    return differences[: MAX_REPORTED_PATHS + 1]


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
        return _NOT_JSON


def _without(value: Any, ignored: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {key: _without(item, ignored) for key, item in value.items() if key not in ignored}
    if isinstance(value, list):
        return [_without(item, ignored) for item in value]
    return value


def _differences(path: str, monolith: Any, service: Any) -> list[str]:
    """JSON paths where the two values differ, e.g. `body.results[3].price`, at most a few."""
    if isinstance(monolith, dict) and isinstance(service, dict):
        found = []
        for key in sorted(monolith.keys() | service.keys(), key=str):
            if key not in service:
                found.append(f"{path}.{key}: only the monolith has it")
            elif key not in monolith:
                found.append(f"{path}.{key}: only the service has it")
            else:
                found += _differences(f"{path}.{key}", monolith[key], service[key])
            if len(found) >= MAX_REPORTED_PATHS:
                break
        return found
    if isinstance(monolith, list) and isinstance(service, list):
        found = []
        if len(monolith) != len(service):
            found.append(
                f"{path}: {len(monolith)} items in the monolith, {len(service)} in the service"
            )
        for index, (left, right) in enumerate(zip(monolith, service, strict=False)):
            found += _differences(f"{path}[{index}]", left, right)
            if len(found) >= MAX_REPORTED_PATHS:
                break
        return found
    if monolith != service or type(monolith) is not type(service):
        return [f"{path}: monolith={_short(monolith)} service={_short(service)}"]
    return []


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def difference_record(
    *, method: str, path: str, request_id: str, details: list[str]
) -> dict[str, Any]:
    """One entry of stats' `last_differences`: enough to replay the request by hand."""
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "method": method,
        "path": path,
        "request_id": request_id,
        "differences": details,
    }
