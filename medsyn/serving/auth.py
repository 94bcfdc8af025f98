"""Bearer-token auth and OpenAI-shaped error bodies for the Serve app.

The key is read once, where the application is built (`medsyn serve`, `serve run`, or the build task
of `serve deploy` on the cluster), and only its SHA-256 digest travels with the application to the
replicas: auth does not depend on any replica's environment, and the key itself is stored nowhere in
Ray. Auth asked for without a key stops the deploy; it never falls back to an open endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from medsyn.errors import ConfigError, DataError


def openai_error(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> JSONResponse:
    """An error the way the OpenAI API words it: {"error": {"message", "type", "param", "code"}}."""
    kind = {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error"}.get(
        status, "invalid_request_error" if status < 500 else "server_error"
    )
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def read_api_key(env: str | None, file: str | None) -> str | None:
    """The key from `file` if given, else from the environment variable `env`; None means auth off."""
    if file:
        key = Path(file).read_text(encoding="utf-8").strip()
        if not key:
            raise ValueError(f"API key file {file!r} is empty")
        return key
    return os.environ.get(env or "") or None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_digest(auth: str, env: str | None, file: str | None) -> str | None:
    """The digest of the API key the app requires, read where the app is built; None: auth off.

    auth: `on` (a key is required: none is an error), `off`, or `auto` (on when a key is found)."""
    if auth not in ("on", "off", "auto"):
        raise ConfigError(f"auth {auth!r} is not valid; use on, off or auto")
    if auth == "off":
        return None
    try:
        key = read_api_key(env, file)
    except (OSError, ValueError) as exc:
        raise DataError(f"api_key_file: {exc}") from exc
    if key is None and auth == "on":
        raise ConfigError(
            f"auth is on but there is no API key: set ${env} where the app is built (for `serve deploy`, "
            "in the application's runtime_env env_vars) or give api_key_file (a path readable there); "
            "auth: off serves without a key"
        )
    return digest(key) if key else None


class BearerAuth:
    """ASGI middleware: with a key digest, every HTTP request needs `Authorization: Bearer KEY`."""

    def __init__(self, app: ASGIApp, *, key_digest: str | None) -> None:
        self.app = app
        self.key_digest = key_digest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.key_digest:
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"").decode("latin-1")
            token = given[len("Bearer ") :] if given.startswith("Bearer ") else None
            if token is None or not hmac.compare_digest(digest(token), self.key_digest):
                response = openai_error(
                    401, "missing or wrong API key (send Authorization: Bearer KEY)", code="invalid_api_key"
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_error_handlers(app: Any) -> None:
    """Validation errors and HTTP exceptions as OpenAI-shaped errors naming the parameter."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def validation(request: Any, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(x) for x in first.get("loc", ()) if x != "body"]
        param = ".".join(loc) or None
        kind = first.get("type", "")
        message = (
            "the request body is not valid JSON"
            if kind == "json_invalid"
            else first.get("msg", "invalid request")
        )
        return openai_error(
            400,
            f"{message}" + (f" (parameter {param})" if param and kind != "json_invalid" else ""),
            param=None if kind == "json_invalid" else param,
            code=kind or "invalid_value",
        )

    async def http(request: Any, exc: HTTPException) -> JSONResponse:
        code = "model_not_found" if exc.status_code == 404 and "model" in str(exc.detail) else None
        return openai_error(exc.status_code, str(exc.detail), code=code)

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(HTTPException, http)
