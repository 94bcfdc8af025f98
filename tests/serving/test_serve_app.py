"""The Serve app on a real local Ray (vLLM on the CPU, the packaged model), called with the `openai`
client and with raw HTTP for malformed requests."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import BadRequestError, NotFoundError, OpenAI

from medsyn.engines import Request, SamplingParams, make_engine
from medsyn.kg import open_kg
from medsyn.serving.config import ServeConfig

pytestmark = pytest.mark.integration
MODEL = "medsyn-small"
KEY = "test-key-0123"
PORT = 8761


def _config(**kw: Any) -> ServeConfig:
    return ServeConfig(
        model_id=MODEL,
        kg="demo",
        language="en",
        port=PORT,
        replica_cpus=1,
        max_tokens_limit=256,
        default_max_tokens=16,
        max_prompt_chars=2000,
        max_n=4,
        **kw,
    )


@pytest.fixture(scope="module")
def server(ray_local, adapter: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    from ray import serve

    from medsyn.cli.serve import start

    key_file = tmp_path_factory.mktemp("auth") / "key"
    key_file.write_text(KEY + "\n")
    url = start(_config(api_key_file=str(key_file), adapters=[f"notes={adapter}"]))
    # A second ingress without a key on the same generator replicas (for test_auth_on_then_off); it
    # starts while the other tests run.
    from medsyn.serving.app import build_ingress

    handle = serve.get_deployment_handle(f"LLMServer:{MODEL}", app_name="medsyn")
    open_app = build_ingress(_config(), {MODEL: handle})
    serve._run(open_app, name="medsyn-open", route_prefix="/open", _blocking=False)
    # The same app on transformers replicas (the fallback engine), also started in the background.
    from medsyn.serving.app import build_app

    hf_app = build_app(_config(engine="hf", adapters=[f"notes={adapter}"]))
    serve._run(hf_app, name="medsyn-hf", route_prefix="/hf", _blocking=False)
    yield {"url": url, "client": OpenAI(base_url=url, api_key=KEY, max_retries=0, timeout=120)}
    serve.shutdown()


def _wait_running(app: str, timeout_s: float = 300) -> None:
    from ray import serve

    deadline = time.time() + timeout_s
    while serve.status().applications[app].status != "RUNNING":
        assert time.time() < deadline, serve.status().applications[app]
        time.sleep(1)


def _post(server: dict[str, Any], path: str, body: Any, *, key: str | None = KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if isinstance(body, bytes):
        headers["Content-Type"] = "application/json"
        return httpx.post(server["url"] + path, content=body, headers=headers, timeout=120)
    return httpx.post(server["url"] + path, json=body, headers=headers, timeout=120)


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"} and error["message"]
    return error


def test_models_and_completions(server: dict[str, Any]) -> None:
    client = server["client"]
    assert [m.id for m in client.models.list().data] == [MODEL, f"{MODEL}:notes"]
    r = client.completions.create(model=MODEL, prompt="The patient complains of", max_tokens=8, temperature=0)
    assert r.choices[0].text and r.usage.completion_tokens <= 8 and r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    # Streaming gives the same greedy text, chunk by chunk.
    chunks = client.completions.create(
        model=MODEL, prompt="The patient complains of", max_tokens=8, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in chunks) == r.choices[0].text
    # max_tokens left out: the server's default (16) applies.
    assert client.completions.create(model=MODEL, prompt="Cough", temperature=0).usage.completion_tokens <= 16


def test_the_replica_runs_the_model_in_vllms_engine_process(server: dict[str, Any]) -> None:
    """On the CPU the replica is two processes, vLLM's front end and its engine core with the model, not
    three (ray.serve.llm's multiprocessing executor would add a worker the engine core waits on)."""
    import psutil

    from tests.processes import title

    replicas = [p for p in psutil.process_iter() if f"ServeReplica:medsyn:LLMServer:{MODEL}" in title(p)]
    engine_cores = [c for r in replicas for c in r.children() if title(c).startswith("VLLM::EngineCore")]
    assert replicas and engine_cores, "no vLLM engine process under the app's generator replica"
    for core in engine_cores:
        assert not any("Worker" in title(c) for c in core.children(recursive=True)), title(core)
        # ... and computes on every core of its node (Ray's OMP_NUM_THREADS=1 would leave it one thread).
        assert core.environ().get("OMP_NUM_THREADS") == str(os.cpu_count()), core.environ()
    # ... and it still answers.
    client = server["client"]
    assert client.completions.create(model=MODEL, prompt="Cough", max_tokens=4, temperature=0).choices[0].text


def test_chat_n_stop_and_seed(server: dict[str, Any]) -> None:
    client = server["client"]
    msgs = [{"role": "user", "content": "Name three symptoms of a cold."}]
    full = client.chat.completions.create(model=MODEL, messages=msgs, max_tokens=24, temperature=0)
    text = full.choices[0].message.content
    assert text and full.choices[0].finish_reason in ("length", "stop")
    streamed = client.chat.completions.create(
        model=MODEL, messages=msgs, max_tokens=24, temperature=0, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == text
    two = client.chat.completions.create(
        model=MODEL, messages=msgs, max_tokens=8, n=2, temperature=1.0, seed=1
    )
    assert len(two.choices) == 2 and [c.index for c in two.choices] == [0, 1]
    # stop: the greedy text cut before the stop word, which is not returned.
    word = next(w for w in text.split()[2:] if w.isalpha())
    cut = client.chat.completions.create(
        model=MODEL, messages=msgs, max_tokens=24, temperature=0, stop=[word]
    )
    assert cut.choices[0].finish_reason == "stop" and word not in cut.choices[0].message.content
    assert text.startswith(cut.choices[0].message.content)
    # A seeded sample reproduces; another seed (very likely) differs.
    sample = [
        client.chat.completions.create(model=MODEL, messages=msgs, max_tokens=16, temperature=1.0, seed=s)
        .choices[0]
        .message.content
        for s in (7, 7, 8)
    ]
    assert sample[0] == sample[1] != sample[2]


def test_lora_adapter_selected_per_request(
    server: dict[str, Any], adapter: Path, default_model: Path
) -> None:
    client, prompt = server["client"], "The patient complains of"
    base = client.completions.create(model=MODEL, prompt=prompt, max_tokens=8, temperature=0)
    tuned = client.completions.create(model=f"{MODEL}:notes", prompt=prompt, max_tokens=8, temperature=0)
    assert tuned.model == f"{MODEL}:notes" and tuned.choices[0].text != base.choices[0].text
    # The served adapter gives PEFT's greedy output.
    with make_engine("hf", str(default_model), adapter=adapter) as hf:
        expected = hf.generate([Request("a", prompt=prompt, params=SamplingParams(0, 1.0, 8))])[0].text
    assert tuned.choices[0].text.strip() == expected
    # The base model still answers as before on the same replica; an unknown adapter is a 404.
    again = client.completions.create(model=MODEL, prompt=prompt, max_tokens=8, temperature=0)
    assert again.choices[0].text == base.choices[0].text
    with pytest.raises(NotFoundError, match="nope"):
        client.completions.create(model=f"{MODEL}:nope", prompt=prompt, max_tokens=4)


def test_notes_are_grounded_on_the_kg(server: dict[str, Any]) -> None:
    kg_symptoms = {e.name for e in open_kg("demo").symptoms("J06", language="en", include_descendants=True)}
    body = {"codes": ["J06"], "n": 2, "max_tokens": 12, "temperature": 0.7, "seed": 11}
    first = _post(server, "/notes", body)
    assert first.status_code == 200, first.text
    data = first.json()
    assert data["model"] == MODEL and len(data["data"]) == 2
    for note in data["data"]:
        assert note["code"] == "J06" and note["error"] is None and note["text"]
        assert set(note["symptoms"]) <= kg_symptoms and 2 <= len(note["symptoms"]) <= 5
        assert note["template_id"].endswith(".en.chat.v1") and all(
            s in note["prompt"] for s in note["symptoms"]
        )
        assert 0.0 <= note["scores"]["symptom_recall"] <= 1.0
        assert 0 < note["usage"]["completion_tokens"] <= 12
    assert data["usage"]["completion_tokens"] == sum(n["usage"]["completion_tokens"] for n in data["data"])
    # The same seed gives the same plan and, seeded, the same notes.
    again = _post(server, "/notes", body).json()
    assert [(n["symptoms"], n["text"]) for n in again["data"]] == [
        (n["symptoms"], n["text"]) for n in data["data"]
    ]
    # Given symptoms and a given example: used as they are, with the paper's main template.
    own = _post(
        server,
        "/notes",
        {
            "codes": ["J06"],
            "symptoms": ["hoarse voice", "night cough"],
            "example": "Sore throat for two days, runny nose, temperature 37.8.",
            "max_tokens": 8,
        },
    ).json()["data"][0]
    assert own["symptoms"] == ["hoarse voice", "night cough"] and own["example_id"] == "request"
    assert own["template_id"] == "paper_main.en.chat.v1" and "temperature 37.8" in own["prompt"]
    assert own["scores"]["example_similarity"] is not None


def test_bad_input_gets_the_right_4xx(server: dict[str, Any]) -> None:
    completion = {"model": MODEL, "prompt": "Cough"}
    assert (
        _error(_post(server, "/completions", completion | {"max_tokens": -5}), 400)["param"] == "max_tokens"
    )
    assert (
        _error(_post(server, "/completions", completion | {"max_tokens": 10**6}), 400)["param"]
        == "max_tokens"
    )
    assert _error(_post(server, "/completions", completion | {"n": 50}), 400)["param"] == "n"
    long = _error(_post(server, "/completions", completion | {"prompt": "cough " * 1000}), 400)
    assert long["code"] == "context_length_exceeded" and "6000 characters" in long["message"]
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "x " * 1500}]}
    assert _error(_post(server, "/chat/completions", chat), 400)["param"] == "messages"
    unknown = _error(_post(server, "/completions", completion | {"model": "gpt-9"}), 404)
    assert "gpt-9" in unknown["message"] and unknown["code"] == "model_not_found"
    assert (
        "not valid JSON"
        in _error(_post(server, "/completions", b'{"model": "x", "prompt": '), 400)["message"]
    )
    assert _error(_post(server, "/chat/completions", {"model": MODEL}), 400)["param"] == "messages"
    code = _error(_post(server, "/notes", {"codes": ["J06", "M55"]}), 400)
    assert code["param"] == "codes" and "'M55'" in code["message"] and "M54" in code["message"]
    assert _error(_post(server, "/notes", {"codes": []}), 400)["param"] == "codes"
    assert _error(_post(server, "/notes", {"codes": ["J06"], "n": 9}), 400)["param"] == "n"
    assert _error(_post(server, "/notes", {"codes": ["J06"], "language": "de"}), 400)["param"] == "language"
    template = _error(_post(server, "/notes", {"codes": ["J06"], "template": "sonnet"}), 400)
    assert template["param"] == "template" and "paper_main" in template["message"]
    assert _error(_post(server, "/notes", {"codes": ["J06"], "symptoms": [" "]}), 400)["param"] == "symptoms"
    assert _error(_post(server, "/notes", {"codes": ["J06"], "model": "gpt-9"}), 404)["param"] == "model"
    opening = _error(_post(server, "/notes", {"codes": ["J06"], "opening_words": 1}), 400)  # a chat server
    assert opening["param"] == "opening_words" and "needs form completion" in opening["message"]


def test_auth_on_then_off(server: dict[str, Any]) -> None:
    for path, body in [("/completions", {"model": MODEL, "prompt": "x"}), ("/notes", {"codes": ["J06"]})]:
        assert _error(_post(server, path, body, key=None), 401)["code"] == "invalid_api_key"
        assert _error(_post(server, path, body, key="wrong"), 401)["type"] == "authentication_error"
    assert httpx.get(server["url"] + "/models", timeout=30).status_code == 401
    # The second ingress, without a key, on the same generator replicas: requests need none.
    _wait_running("medsyn-open")
    open_url = server["url"].replace("/v1", "/open/v1")
    r = httpx.post(
        open_url + "/completions", json={"model": MODEL, "prompt": "Cough", "max_tokens": 4}, timeout=120
    )
    assert r.status_code == 200 and r.json()["choices"][0]["text"]
    assert _post(server, "/completions", {"model": MODEL, "prompt": "x"}, key=None).status_code == 401


DEPLOY = """
import sys

import ray
from ray import serve

from medsyn.serving.app import build_ingress
from medsyn.serving.config import ServeConfig

ray.init(address=sys.argv[1])
config = ServeConfig(
    model_id=sys.argv[2], kg="demo", language="en", auth="on", api_key_env="MEDSYN_DEPLOY_KEY"
)
handle = serve.get_deployment_handle(f"LLMServer:{sys.argv[2]}", app_name="medsyn")
serve._run(build_ingress(config, {sys.argv[2]: handle}), name="medsyn-deployed", route_prefix="/deployed",
           _blocking=False)
"""


def test_a_deployed_app_needs_its_key_on_every_route(server: dict[str, Any]) -> None:
    """Deployed by another driver (as `medsyn serve` or `serve run` against a cluster): the key is only
    in that driver's environment, never in the replicas'; without it the app does not start."""
    import os
    import subprocess
    import sys

    import ray
    from ray import serve

    from medsyn.errors import ConfigError
    from medsyn.serving.app import build_ingress

    assert "MEDSYN_DEPLOY_KEY" not in os.environ  # nor, then, in this Ray's workers
    # Without the key where the app is built (here, as in DEPLOY's driver), it is refused there.
    config = ServeConfig(model_id=MODEL, kg="demo", language="en", auth="on", api_key_env="MEDSYN_DEPLOY_KEY")
    handle = serve.get_deployment_handle(f"LLMServer:{MODEL}", app_name="medsyn")
    with pytest.raises(ConfigError, match=r"auth is on but there is no API key: set \$MEDSYN_DEPLOY_KEY"):
        build_ingress(config, {MODEL: handle})
    assert "medsyn-deployed" not in serve.status().applications
    deploy = [sys.executable, "-c", DEPLOY, ray.get_runtime_context().gcs_address, MODEL]
    key = "deploy-key-0042"
    deployed = subprocess.run(
        deploy, env={**os.environ, "MEDSYN_DEPLOY_KEY": key}, capture_output=True, text=True, timeout=300
    )
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    _wait_running("medsyn-deployed")
    url = server["url"].replace("/v1", "/deployed/v1")
    routes = [
        ("GET", "/models", None),
        ("GET", f"/models/{MODEL}", None),
        ("POST", "/completions", {"model": MODEL, "prompt": "Cough", "max_tokens": 4}),
        ("POST", "/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}),
        ("POST", "/notes", {"codes": ["J06"], "max_tokens": 4}),
    ]
    for method, path, body in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": key}):
            r = httpx.request(method, url + path, json=body, headers=headers, timeout=120)
            assert r.status_code == 401, (path, headers, r.text)
            assert r.json()["error"]["code"] == "invalid_api_key"
    client = OpenAI(base_url=url, api_key=key, max_retries=0, timeout=120)
    assert [m.id for m in client.models.list().data] == [MODEL]
    assert client.completions.create(model=MODEL, prompt="Cough", max_tokens=4).choices[0].text
    serve.delete("medsyn-deployed")


def test_generation_engine_targets_the_endpoint(
    server: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDSYN_TEST_KEY", KEY)
    engine = make_engine("openai", MODEL, base_url=server["url"], api_key_env="MEDSYN_TEST_KEY")
    with engine:
        results = engine.generate(
            [
                Request("a", prompt="Fever and", params=SamplingParams(temperature=0, max_tokens=6)),
                Request(
                    "b", messages=[{"role": "user", "content": "Cough?"}], params=SamplingParams(max_tokens=6)
                ),
            ]
        )
    assert [r.id for r in results] == ["a", "b"] and all(r.error is None and r.text for r in results)
    assert all(0 < (r.completion_tokens or 0) <= 6 for r in results)


def test_transformers_replicas_serve_the_same_api(
    server: dict[str, Any], adapter: Path, default_model: Path
) -> None:
    """`engine: hf`: the fallback replicas answer the openai client like the vLLM ones."""
    _wait_running("medsyn-hf")
    url = server["url"].replace("/v1", "/hf/v1")
    client = OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120)
    assert [m.id for m in client.models.list().data] == [MODEL, f"{MODEL}:notes"]
    prompt = "The patient complains of"
    r = client.completions.create(model=MODEL, prompt=prompt, max_tokens=8, temperature=0)
    with make_engine("hf", str(default_model)) as hf:
        expected = hf.generate([Request("a", prompt=prompt, params=SamplingParams(0, 1.0, 8))])[0].text
    assert r.choices[0].text.strip() == expected and r.usage.completion_tokens == 8
    chunks = client.completions.create(model=MODEL, prompt=prompt, max_tokens=8, temperature=0, stream=True)
    assert "".join(c.choices[0].text for c in chunks) == r.choices[0].text
    msgs = [{"role": "user", "content": "Name three symptoms of a cold."}]
    two = client.chat.completions.create(
        model=MODEL, messages=msgs, max_tokens=8, n=2, temperature=1.0, seed=5
    )
    assert [c.index for c in two.choices] == [0, 1] and all(c.message.content for c in two.choices)
    # The adapter, per request: PEFT's greedy text.
    tuned = client.completions.create(model=f"{MODEL}:notes", prompt=prompt, max_tokens=8, temperature=0)
    with make_engine("hf", str(default_model), adapter=adapter) as hf:
        expected = hf.generate([Request("a", prompt=prompt, params=SamplingParams(0, 1.0, 8))])[0].text
    assert tuned.choices[0].text.strip() == expected != r.choices[0].text.strip()
    # What transformers cannot do is a 400 naming it; /v1/notes works on these replicas too.
    with pytest.raises(BadRequestError, match="logprobs"):
        client.completions.create(model=MODEL, prompt=prompt, max_tokens=4, logprobs=2)
    note = httpx.post(url + "/notes", json={"codes": ["J06"], "max_tokens": 8}, timeout=120)
    assert note.status_code == 200 and note.json()["data"][0]["text"], note.text
