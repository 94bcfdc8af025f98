"""kuberay/*.yaml validate offline against KubeRay's CRD schemas (ray.io/v1, ../shared/kuberay) the
way a strict API server would: unknown fields refused (kubectl --validate=strict), schema defaults filled
before `required` is checked; the embedded serveConfigV2 and runtimeEnvYAML are checked with Ray's own
schemas. Typos fail."""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from medsyn.paths import shared_path

ROOT = Path(__file__).resolve().parents[2]
KUBERAY = ROOT / "kuberay"
CRDS = shared_path("kuberay/crds", "MEDSYN_KUBERAY_CRDS") or ROOT.parent / "shared" / "kuberay" / "crds"
CRD_FILES = {"RayJob": "ray.io_rayjobs.yaml", "RayService": "ray.io_rayservices.yaml"}
MANIFESTS = sorted(KUBERAY.glob("*.yaml"))


def _strict(schema: Any) -> Any:
    """Every object schema with `properties` and without x-kubernetes-preserve-unknown-fields refuses
    unknown fields."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in schema
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    return schema


@cache
def crd_schema(kind: str) -> dict[str, Any]:
    path = CRDS / CRD_FILES[kind]
    assert path.is_file(), f"KubeRay CRDs not found at {CRDS} (set MEDSYN_SHARED, or MEDSYN_KUBERAY_CRDS)"
    crd = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return _strict(version["schema"]["openAPIV3Schema"])


def _fill_defaults(instance: Any, schema: dict[str, Any]) -> None:
    """Apply schema defaults as the API server does before validation."""
    if isinstance(instance, dict):
        for name, sub in schema.get("properties", {}).items():
            if name not in instance and "default" in sub:
                instance[name] = copy.deepcopy(sub["default"])
            if name in instance:
                _fill_defaults(instance[name], sub)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for item in instance:
            _fill_defaults(item, schema["items"])


def validate_manifest(doc: dict[str, Any]) -> None:
    """Raise on the first problem: the CRD schema, then the embedded Serve config and runtime env."""
    from ray.runtime_env import RuntimeEnv
    from ray.serve.schema import ServeDeploySchema

    assert doc.get("apiVersion") == "ray.io/v1", doc.get("apiVersion")
    schema = crd_schema(doc["kind"])
    doc = copy.deepcopy(doc)
    _fill_defaults(doc, schema)
    jsonschema.Draft7Validator(schema).validate(doc)
    spec = doc["spec"]
    if "serveConfigV2" in spec:
        ServeDeploySchema.model_validate(yaml.safe_load(spec["serveConfigV2"]))
    if "runtimeEnvYAML" in spec:
        env = yaml.safe_load(spec["runtimeEnvYAML"])
        # RuntimeEnv takes unknown keys as plugins: a typo would only surface at submission.
        unknown = set(env) - set(RuntimeEnv.known_fields)
        assert not unknown, f"runtimeEnvYAML: unknown fields {sorted(unknown)}"
        RuntimeEnv(**env)


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _ray_pin() -> str:
    match = re.search(r'"ray\[[^\]]*\]==([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert match
    return match.group(1)


def _cluster(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["rayClusterSpec" if doc["kind"] == "RayJob" else "rayClusterConfig"]


def test_the_manifests_are_the_ones_users_need() -> None:
    kinds = sorted((p.name, _load(p)["kind"]) for p in MANIFESTS)
    assert kinds == [
        ("rayjob-finetune.yaml", "RayJob"),
        ("rayjob-generate.yaml", "RayJob"),
        ("rayservice.yaml", "RayService"),
    ]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_against_the_kuberay_crd(path: Path) -> None:
    doc = _load(path)
    validate_manifest(doc)
    cluster = _cluster(doc)
    assert cluster["authOptions"] == {"mode": "token"}
    assert cluster["headGroupSpec"]["rayStartParams"]["num-gpus"] == "0"
    gpu = next(g for g in cluster["workerGroupSpecs"] if g["groupName"] == "gpu")
    assert gpu["minReplicas"] == 0 and gpu["maxReplicas"] >= 1  # autoscales from 0
    assert cluster["enableInTreeAutoscaling"] is True
    # Submitter, image and cluster on one Ray: the pinned one.
    pin = _ray_pin()
    assert cluster["rayVersion"] == pin
    assert f"FROM rayproject/ray:{pin}-py311" in (KUBERAY / "Dockerfile").read_text()
    if doc["kind"] == "RayJob":
        assert doc["spec"]["shutdownAfterJobFinishes"] is True
        # The entrypoint runs the image's copy of the repository (kuberay/Dockerfile: /home/ray/medsyn).
        entry = re.fullmatch(
            r"python /home/ray/medsyn/(\S+) --config /home/ray/medsyn/(\S+)", doc["spec"]["entrypoint"]
        )
        assert entry and (ROOT / entry[1]).is_file() and (ROOT / entry[2]).is_file()


def test_the_rayservice_serves_medsyns_serve_config() -> None:
    doc = _load(KUBERAY / "rayservice.yaml")
    assert yaml.safe_load(doc["spec"]["serveConfigV2"]) == _load(ROOT / "serve" / "config.yaml")


def _set(doc: dict[str, Any], path: str, value: Any = None, *, rename: str | None = None) -> dict[str, Any]:
    """A copy of `doc` with the field at dotted `path` set to `value` or renamed to `rename`."""
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node: Any = doc
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if rename:
        node[rename] = node.pop(last)
    else:
        node[last] = value
    return doc


def _edit_embedded(doc: dict[str, Any], field: str, old: str, new: str) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    assert old in doc["spec"][field]
    doc["spec"][field] = doc["spec"][field].replace(old, new)
    return doc


JOB, SVC = "spec.rayClusterSpec", "spec.rayClusterConfig"
HEAD = "headGroupSpec.template.spec.containers.0"


@pytest.mark.parametrize(
    ("manifest", "mutate"),
    [
        (
            "rayjob-generate",
            lambda d: _set(d, "spec.shutdownAfterJobFinishes", rename="shutdownAfterJobFinish"),
        ),
        ("rayjob-generate", lambda d: _set(d, f"{JOB}.workerGroupSpecs.0.minReplicas", rename="minReplica")),
        ("rayjob-generate", lambda d: _set(d, f"{JOB}.authOptions.mode", "tokens")),
        ("rayjob-generate", lambda d: _set(d, f"{JOB}.{HEAD}.image", rename="imagee")),
        ("rayjob-finetune", lambda d: _set(d, "spec.ttlSecondsAfterFinished", "300")),
        ("rayjob-finetune", lambda d: _set(d, "spec", rename="specs")),
        ("rayjob-finetune", lambda d: _edit_embedded(d, "runtimeEnvYAML", "env_vars:", "env_var:")),
        ("rayjob-generate", lambda d: _edit_embedded(d, "runtimeEnvYAML", "env_vars:", "pip: 3\nenv_vars:")),
        ("rayservice", lambda d: _edit_embedded(d, "serveConfigV2", "import_path:", "import_pth:")),
        ("rayservice", lambda d: _edit_embedded(d, "serveConfigV2", "port: 8000", "port: eight")),
        ("rayservice", lambda d: _set(d, f"{SVC}.workerGroupSpecs.1.groupName", rename="group")),
    ],
)
def test_typos_fail(manifest: str, mutate) -> None:  # type: ignore[no-untyped-def]
    doc = _load(KUBERAY / f"{manifest}.yaml")
    validate_manifest(doc)  # the original passes: the mutation is what fails
    with pytest.raises(Exception):  # noqa: B017 - jsonschema, pydantic or Ray's runtime-env errors
        validate_manifest(mutate(doc))
