"""Real-shaped AdmissionReview bodies (as kube-apiserver sends them) for every workload kind."""

from __future__ import annotations

import copy
import uuid
from typing import Any

GROUPS = {
    "Pod": ("", "v1", "pods"),
    "Deployment": ("apps", "v1", "deployments"),
    "ReplicaSet": ("apps", "v1", "replicasets"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "DaemonSet": ("apps", "v1", "daemonsets"),
    "Job": ("batch", "v1", "jobs"),
    "CronJob": ("batch", "v1", "cronjobs"),
}
KINDS = tuple(GROUPS)


def pod_spec(
    *images: str, init: tuple[str, ...] = (), volumes: tuple[str, ...] = ()
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {"name": f"c{i}", "image": image, "resources": {}, "imagePullPolicy": "IfNotPresent"}
            for i, image in enumerate(images)
        ],
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
    }
    if init:
        spec["initContainers"] = [
            {"name": f"init{i}", "image": image} for i, image in enumerate(init)
        ]
    if volumes:
        spec["volumes"] = [
            {"name": f"v{i}", "image": {"reference": ref, "pullPolicy": "IfNotPresent"}}
            for i, ref in enumerate(volumes)
        ]
    return spec


def workload(kind: str, spec: dict[str, Any], name: str = "app") -> dict[str, Any]:
    group, version, _ = GROUPS[kind]
    meta = {"name": name, "namespace": "team-a", "labels": {"app": name}}
    template = {"metadata": {"labels": {"app": name}}, "spec": spec}
    body: dict[str, Any] = {
        "apiVersion": f"{group}/{version}" if group else version,
        "kind": kind,
        "metadata": meta,
    }
    if kind == "Pod":
        body["spec"] = spec
    elif kind == "CronJob":
        body["spec"] = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        body["spec"] = {"backoffLimit": 2, "template": template}
    else:
        body["spec"] = {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": template,
        }
    return body


def review(
    obj: dict[str, Any],
    *,
    operation: str = "CREATE",
    namespace: str = "team-a",
    old: dict[str, Any] | None = None,
    sub_resource: str | None = None,
) -> dict[str, Any]:
    kind = obj["kind"]
    group, version, resource = GROUPS[kind]
    gvk = {"group": group, "version": version, "kind": kind}
    gvr = {"group": group, "version": version, "resource": resource}
    request: dict[str, Any] = {
        "uid": str(uuid.uuid4()),
        "kind": gvk,
        "resource": gvr,
        "requestKind": gvk,
        "requestResource": gvr,
        "name": obj["metadata"]["name"],
        "namespace": namespace,
        "operation": operation,
        "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
        "object": obj,
        "oldObject": old,
        "dryRun": False,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
    }
    if sub_resource:
        request["subResource"] = sub_resource
    return {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1", "request": request}


def with_ephemeral(pod: dict[str, Any], image: str) -> dict[str, Any]:
    updated = copy.deepcopy(pod)
    updated["spec"]["ephemeralContainers"] = [
        {"name": "debugger", "image": image, "targetContainerName": "c0"}
    ]
    return updated
