from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.admission.review import AdmissionReview
from service.admission.workloads import WorkloadError, image_uses, new_image_uses
from tests.unit.admission.reviews import KINDS, pod_spec, review, with_ephemeral, workload


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_yields_containers_init_containers_and_image_volumes(kind):
    obj = workload(kind, pod_spec("app:1", "sidecar:2", init=("migrate:3",), volumes=("data:4",)))
    uses = image_uses(kind, obj)
    assert [u.image for u in uses] == ["app:1", "sidecar:2", "migrate:3", "data:4"]
    for use in uses:  # each pointer really leads to the image inside the object
        node = obj
        for part in use.pointer.strip("/").split("/"):
            node = node[int(part)] if isinstance(node, list) else node[part]
        assert node == use.image


def test_ephemeral_containers_are_checked_and_updates_only_check_new_images():
    pod = workload("Pod", pod_spec("app:1"))
    debug = with_ephemeral(pod, "busybox:1.36")
    assert [u.image for u in image_uses("Pod", debug)] == ["app:1", "busybox:1.36"]
    new = new_image_uses("Pod", debug, pod)
    assert [(u.image, u.pointer) for u in new] == [
        ("busybox:1.36", "/spec/ephemeralContainers/0/image")
    ]


def test_kinds_without_pods_have_no_images_and_malformed_specs_are_refused():
    assert image_uses("ConfigMap", {"data": {}}) == []
    with pytest.raises(WorkloadError, match=r"spec\.containers\.0\.image"):
        image_uses("Pod", {"spec": {"containers": [{"name": "x", "image": 3}]}})
    with pytest.raises(WorkloadError, match=r"has no spec\.template\.spec"):
        image_uses("Deployment", {"spec": {}})


def test_review_envelope_is_parsed_strictly():
    body = review(workload("Pod", pod_spec("app:1")), sub_resource="ephemeralcontainers")
    parsed = AdmissionReview.model_validate(body)
    assert parsed.request.uid == body["request"]["uid"]
    assert parsed.request.sub_resource == "ephemeralcontainers"
    assert parsed.request.kind.kind == "Pod"
    for broken in (
        {**body, "apiVersion": "admission.k8s.io/v1beta1"},
        {**body, "kind": "Pod"},
        {**body, "request": {**body["request"], "uid": ""}},
        {k: v for k, v in body.items() if k != "request"},
    ):
        with pytest.raises(ValidationError):
            AdmissionReview.model_validate(broken)
