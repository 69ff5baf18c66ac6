# taskgate in a container: the wheel built from this tree, installed in a slim Python image,
# run as an unprivileged user. Config in /etc/taskgate, data (SQLite, admin.key, runs/) in
# /var/lib/taskgate: both volumes. See docs/operations.md#docker.
#
#   docker build -t taskgate .
#   docker run -p 8080:8080 -v taskgate-data:/var/lib/taskgate taskgate
#   docker exec <container> cat /var/lib/taskgate/admin.key

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE CHANGELOG.md MANIFEST.in ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
# PostgreSQL (database_url) and MQTT (mqtt.enabled) come with the image; the embedded SQLite
# needs neither.
ARG EXTRAS=postgres,mqtt
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TASKGATE_CONFIG=/etc/taskgate/taskgate.yaml \
    TASKGATE_DATA_DIR=/var/lib/taskgate \
    TASKGATE_HOST=0.0.0.0 \
    TASKGATE_PORT=8080
RUN groupadd --system taskgate \
    && useradd --system --gid taskgate --home-dir /var/lib/taskgate --shell /usr/sbin/nologin taskgate \
    && mkdir -p /etc/taskgate /var/lib/taskgate \
    && chown taskgate:taskgate /var/lib/taskgate \
    && chmod 0700 /var/lib/taskgate
COPY --from=build /wheels /wheels
RUN wheel="$(ls /wheels/taskgate-*.whl)" \
    && pip install --no-cache-dir "taskgate[${EXTRAS}] @ file://${wheel}" \
    && rm -rf /wheels
COPY contrib/docker/taskgate.yaml /etc/taskgate/taskgate.yaml
VOLUME ["/etc/taskgate", "/var/lib/taskgate"]
USER taskgate
WORKDIR /var/lib/taskgate
EXPOSE 8080
# /healthz needs no key; the port follows TASKGATE_PORT.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('TASKGATE_PORT', '8080') + '/healthz', timeout=4)"
# The console script the wheel installs ([project.scripts] in pyproject.toml).
ENTRYPOINT ["taskgate"]
CMD ["serve"]
