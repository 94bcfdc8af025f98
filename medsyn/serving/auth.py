"""Optional bearer-token auth and OpenAI-shaped error bodies for the Serve app."""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


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


class BearerAuth:
    """ASGI middleware: with a key configured, every HTTP request needs `Authorization: Bearer KEY`."""

    def __init__(self, app: ASGIApp, *, key_env: str | None = None, key_file: str | None = None) -> None:
        self.app = app
        self.key_env, self.key_file = key_env, key_file
        self._key: Any = ...  # read on the first request, in the replica's own environment

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._key is ...:
            self._key = read_api_key(self.key_env, self.key_file)
        if scope["type"] == "http" and self._key:
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"").decode("latin-1")
            if not hmac.compare_digest(given.encode(), f"Bearer {self._key}".encode()):
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
