# One image for both kfp-chain functions; FUNCTION_TARGET picks the entry point of functions/main.py
# (on_run_completion, the default, or on_dead_letter). Build: `make image` (IMAGE=... to name it).
FROM python:3.11-slim

# PYTHONPATH: kfp_chain is imported from functions/ (functions-framework also adds the source's directory
# to sys.path; this makes `python -m kfp_chain.cli` work too). PORT: read by functions-framework; Knative
# sets it, 8080 otherwise.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app/functions \
    FUNCTION_TARGET=on_run_completion \
    PORT=8080

WORKDIR /app

# Dependencies first, pinned by constraints.txt, so code changes reuse this layer.
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt

COPY functions/ ./functions/

# A fixed numeric uid, so Kubernetes can verify runAsNonRoot; a home for kfp's ~/.config lookups.
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/app --shell /usr/sbin/nologin app
USER 10001
ENV HOME=/home/app

EXPOSE 8080

# Exec form: the server is PID 1 and gets SIGTERM from Knative directly. --target and --port come from
# FUNCTION_TARGET and PORT.
CMD ["functions-framework", "--source", "functions/main.py"]
