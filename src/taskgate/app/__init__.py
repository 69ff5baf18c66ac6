"""Assembly: builds the parts from the settings, wires them, and serves them.

- `assembly.create_app`: the server's app, its parts started and stopped in order;
- `configspecs`: what the config file declares, as the specs the core syncs;
- `mounting`: the compatible doors that are switched on, and the guard every listener gets;
- `serving.serve`: uvicorn on the app (`taskgate serve`).
"""
