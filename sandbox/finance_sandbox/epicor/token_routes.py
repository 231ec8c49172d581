"""Token routes: Epicor's Token Resource Service and the OAuth2 endpoint of Epicor's IdP."""

from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from finance_sandbox.epicor import auth as epicor_auth
from finance_sandbox.epicor.emulator import INSTANCE, Emulator
from finance_sandbox.epicor.errors import EpicorError
from finance_sandbox.epicor.responses import form_body, guarded


class TokenRoutes:
    """`/{instance}/TokenResource.svc` and `/connect/token` of one emulator."""

    def __init__(self, emu: Emulator) -> None:
        """Tokens are issued by, and checked against, `emu.auth`."""
        self.emu = emu

    def routes(self) -> list[Route]:
        """Both token endpoints (Token Resource with and without its trailing slash)."""
        return [
            Route("/connect/token", self.connect_token, methods=["POST"]),
            Route("/{instance}/TokenResource.svc", self.token_resource, methods=["POST"]),
            Route("/{instance}/TokenResource.svc/", self.token_resource, methods=["POST"]),
        ]

    async def token_resource(self, request: Request) -> Response:
        """Token Resource: credentials in headers, Basic auth or a form; JSON or XML answer."""
        return await guarded(self.emu, "TokenResource.svc", lambda: self._token(request))

    async def _token(self, request: Request) -> Response:
        emu = self.emu
        if request.path_params["instance"] != INSTANCE:
            raise EpicorError(404, "Unknown server instance.")
        user = request.headers.get("username")
        auth_header = request.headers.get("authorization", "")
        if user is not None:
            name = epicor_auth.Auth.check_password(user, request.headers.get("password") or "")
        elif auth_header.lower().startswith("basic "):
            name = emu.auth.user_from_authorization(auth_header)
        else:
            form = await form_body(request)
            name = epicor_auth.Auth.check_password(
                str(form.get("username") or form.get("userName") or ""),
                str(form.get("password") or ""),
            )
        token = emu.auth.issue(name)
        ttl = emu.auth.token_ttl
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(
                {
                    "AccessToken": token,
                    "ExpiresIn": ttl,
                    "TokenType": "Bearer",
                    "RefreshToken": "",
                }
            )
        xml = (
            '<Token xmlns="http://schemas.datacontract.org/2004/07/Epicor.Ice.Lib" '
            'xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
            f"<AccessToken>{token}</AccessToken><ExpiresIn>{ttl}</ExpiresIn>"
            "<RefreshToken></RefreshToken><TokenType>Bearer</TokenType></Token>"
        )
        return Response(xml, media_type="application/xml")

    async def connect_token(self, request: Request) -> Response:
        """OAuth2 token endpoint (Epicor IdP stand-in): client credentials or password grant."""
        try:
            resp = await self._oauth_token(request)
        except EpicorError:
            resp = _oauth_error(400, "invalid_grant", "invalid username or password")
        self.emu.counters.add("connect/token", resp.status_code)
        return resp

    async def _oauth_token(self, request: Request) -> Response:
        form = await form_body(request)
        grant = str(form.get("grant_type") or "")
        client_id = str(form.get("client_id") or "")
        secret = str(form.get("client_secret") or "")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        scopes = str(form.get("scope") or "").split()
        if grant not in ("client_credentials", "password"):
            return _oauth_error(
                400, "unsupported_grant_type", f"grant_type '{grant}' is not supported"
            )
        if client_id != epicor_auth.CLIENT_ID or (
            grant == "client_credentials" and secret != epicor_auth.CLIENT_SECRET
        ):
            return _oauth_error(401, "invalid_client", "client authentication failed")
        if epicor_auth.SCOPE not in scopes:
            return _oauth_error(400, "invalid_scope", f"scope must include '{epicor_auth.SCOPE}'")
        user = epicor_auth.USERNAME
        if grant == "password":
            user = epicor_auth.Auth.check_password(
                str(form.get("username") or ""), str(form.get("password") or "")
            )
        return JSONResponse(
            {
                "access_token": self.emu.auth.issue(user),
                "expires_in": self.emu.auth.token_ttl,
                "token_type": "Bearer",
                "scope": " ".join(scopes),
            }
        )


def _oauth_error(status: int, code: str, description: str) -> Response:
    return JSONResponse({"error": code, "error_description": description}, status)
