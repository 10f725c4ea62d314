"""GET /swagger: the API browsable, Swagger UI over the OpenAPI document of SendFunction's routes
(their models, descriptions and examples), served by the function itself.

Powertools writes Swagger UI's script and stylesheet, which it ships in its own package (in the
layer), into the page: nothing is loaded from a CDN, so the page works offline and in closed
networks. `?format=json` answers the document alone. The route is not in openapi.json (the API's
contract), and it answers only where the stack's SwaggerUi parameter is `enabled`; API Gateway
puts it behind the same auth as every other route."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

PATH = "/swagger"
TITLE = "Messaging service"
VERSION = "1"


def enable(app: APIGatewayRestResolver, enabled: bool) -> None:
    if enabled:
        # No swagger_base_url: Powertools inlines its bundled assets (no request leaves for them).
        app.enable_swagger(path=PATH, title=TITLE, version=VERSION)
