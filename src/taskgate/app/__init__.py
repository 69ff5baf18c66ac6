"""Assembly: builds the parts from the settings, wires them, and serves them.

- `assembly.create_app`: the server's app, its parts started and stopped in order;
- `configspecs`: what the config file declares, as the specs the core syncs;
- `mounting`: the compatible doors that are switched on, and the guard every listener gets;
- `serving.serve`: uvicorn on the app (`taskgate serve`).
"""

from taskgate.app.fastapicompat import keep_out_pydantic_v1

# Before any route module of a door is imported (FastAPI builds some fields as the routes are
# declared, the others at their first request): see fastapicompat.
keep_out_pydantic_v1()
