"""The security headers of every HTML answer of this door.

No page runs an inline script: scripts come from /ui/static only ('self'), so an injected
<script> or on* attribute does nothing. Styles may be inline for the API docs only (Swagger UI
and Redoc set style attributes); Redoc renders in a worker made from a blob.
"""

from __future__ import annotations

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def security_headers(csp: str = PAGE_CSP) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        # Pages show live data and who is logged in: never from a cache.
        "Cache-Control": "no-store",
    }
