"""``GET /images/{study_id}?expires=…&signature=…``: a study's image, behind a signed URL.

The URL comes from ``ImagingStudy.imageUrl`` and is bound to the viewer it was made for: the
request must carry that viewer's bearer token, the signature and expiry must hold, and the
imaging service checks again that the viewer may see the study. So a leaked URL is useless
without the token, and a URL stops working when it expires or when the viewer's access ends.
Clients fetch it with the Authorization header (``fetch`` then a blob URL), as they call
``/graphql``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from domain.errors import DomainError, ErrorCode
from domain.services import Services
from infra.http.requests import error_body
from infra.http.view import bearer

STATUS = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
}


def image_endpoint(services: Services) -> Callable[[Request], Awaitable[Response]]:
    async def image(request: Request) -> Response:
        request_id = str(request.scope.get("state", {}).get("request_id", ""))
        try:
            token = bearer(request.headers.get("authorization"))
            if token is None:
                raise DomainError(ErrorCode.UNAUTHENTICATED, "Sign in first")
            principal = await services.users.authenticate(token, request_id=request_id)
            data, content_type = await services.imaging.open_image(
                principal,
                study_id=request.path_params["study_id"],
                expires=request.query_params.get("expires", ""),
                signature=request.query_params.get("signature", ""),
            )
        except DomainError as error:
            status = STATUS.get(error.code, 400)
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return Response(
                error_body(error.code, error.message, request_id),
                status,
                headers,
                "application/json",
            )
        return Response(
            data,
            media_type=content_type,
            headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
        )

    return image
