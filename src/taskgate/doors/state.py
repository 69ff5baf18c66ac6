"""Where every door's application keeps the core services (`app.state.services`)."""

from starlette.requests import Request

from taskgate.core.services import Services


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
