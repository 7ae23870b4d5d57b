"""FastAPI dependencies: the runtime, the calling tenant (API key auth), the admin token.

Dependencies are ``async def``: FastAPI runs plain ``def`` dependencies in a thread pool,
which cost more than the whole lexicon scan. Route signatures use the typed aliases::

    async def handler(runtime: RuntimeDep, tenant: TenantDep): ...
    @router.post("/admin/x", dependencies=[AdminDep])
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from service.errors import AdminUnauthorized, InvalidJSON, Unauthorized, ValidationFailed
from service.runtime import Runtime
from service.tenants import Tenant

USER_HEADER = "x-aigc-user"


async def get_runtime(request: Request) -> Runtime:
    """The ``Runtime`` built by the app's lifespan."""
    return request.app.state.runtime


def api_key_from(request: Request) -> str | None:
    """The caller's key: ``Authorization: Bearer``, else ``x-api-key``, else ``api-key``."""
    headers = request.headers
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return headers.get("x-api-key") or headers.get("api-key") or None


async def get_tenant(request: Request) -> Tenant:
    """The tenant owning the request's API key; 401 ``invalid_api_key`` when unknown.

    With no tenants configured auth is off and every request is the default tenant.
    """
    runtime: Runtime = request.app.state.runtime
    registry = runtime.snapshot.tenants
    tenant = registry.authenticate(api_key_from(request) if registry.auth_required else None)
    if tenant is None:
        raise Unauthorized(
            "Missing or unknown API key. Send it as 'Authorization: Bearer KEY', "
            "'x-api-key: KEY' or 'api-key: KEY'."
        )
    request.state.tenant_id = tenant.id
    return tenant


def admin_token_matches(settings: Any, given: str) -> bool:
    """Whether ``given`` is the configured admin token (constant time; False when none is)."""
    token = settings.admin_token
    if token is None:
        return False
    return hmac.compare_digest(given.encode(), token.get_secret_value().encode())


async def require_admin(request: Request) -> None:
    """Admin endpoints need ``Authorization: Bearer <admin token>`` (or ``x-admin-token``)."""
    settings = request.app.state.runtime.settings
    if settings.admin_token is None:
        raise AdminUnauthorized("Admin endpoints are disabled: no admin token is configured.")
    given = request.headers.get("x-admin-token")
    if given is None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        given = value.strip() if scheme.lower() == "bearer" else ""
    if not admin_token_matches(settings, given):
        raise AdminUnauthorized()


def get_request_id(request: Request) -> str:
    """The request id assigned by the logging middleware (also sent as ``x-request-id``)."""
    return str(request.scope.get("state", {}).get("request_id") or "")


def header_user_id(request: Request) -> str | None:
    """The end user's pseudonymous id from ``X-AIGC-User``, if sent."""
    value = request.headers.get(USER_HEADER, "").strip()
    return value[:128] or None


ModelT = TypeVar("ModelT", bound=BaseModel)


async def json_body(request: Request, model: type[ModelT]) -> ModelT:
    """Parse and validate the JSON body with pydantic-core in one pass (no FastAPI body
    machinery on the hot path); 400 ``invalid_json`` / 422 ``validation_error``."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise InvalidJSON("The request body is not valid JSON.") from None
        details = [
            {"loc": ["body", *map(str, e["loc"])], "msg": e["msg"], "type": e["type"]}
            for e in errors
        ]
        where = ".".join(details[0]["loc"][1:]) or "body"
        raise ValidationFailed(f"{where}: {details[0]['msg']}", details=details) from None


def request_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON body of a route using ``json_body``."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:  # refs to "#/$defs/X" would dangle inside the OpenAPI doc
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {
                k: ({"propertyName": v["propertyName"]} if k == "discriminator" else inline(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline(schema)}},
        }
    }


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
TenantDep = Annotated[Tenant, Depends(get_tenant)]
AdminDep = Depends(require_admin)
