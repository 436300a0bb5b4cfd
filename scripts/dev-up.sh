#!/usr/bin/env bash
# `make up` after the data is loaded: a local Prefect server with its UI, the
# scheduled deployment's runner, and the API beside them. No Docker needed.
#
#   Prefect UI  http://127.0.0.1:4200   (SQLite under var/prefect unless PREFECT_API_DATABASE_CONNECTION_URL)
#   API         http://127.0.0.1:8000   (when `bordercast serve` exists)
#
# Ctrl-C stops all three. Logs: var/log/{prefect-server,runner,api}.log
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
HOST=${HOST:-127.0.0.1}
PREFECT_PORT=${PREFECT_PORT:-4200}
PORT=${PORT:-8000}
mkdir -p var/log var/prefect
export PREFECT_HOME=${PREFECT_HOME:-$PWD/var/prefect}
export PREFECT_SERVER_ANALYTICS_ENABLED=${PREFECT_SERVER_ANALYTICS_ENABLED:-false}
export PREFECT_LOGGING_EXTRA_LOGGERS=${PREFECT_LOGGING_EXTRA_LOGGERS:-forecasting}
export PREFECT_UI_API_URL="http://$HOST:$PREFECT_PORT/api"

# Stop with TERM, then KILL what is still up after $1 seconds.
stop_pids() {
  local grace=$1
  shift
  kill "$@" 2>/dev/null || true
  for _ in $(seq "$((grace * 5))"); do
    kill -0 "$@" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -9 "$@" 2>/dev/null || true
}

# The server goes last: on TERM the runner pauses its deployments through the
# server's API, and with the server gone it retried for over a minute, then
# failed. For the same reason the server runs in a session of its own, out of
# reach of the terminal's Ctrl-C (the venv's Python calls setsid, so no
# setsid(1) is needed). A second Ctrl-C during the stop is ignored: it would
# end this script and leave that server running.
pids=()
stop() {
  trap '' INT TERM HUP
  trap - EXIT
  if ((${#pids[@]} > 1)); then stop_pids 15 "${pids[@]:1}"; fi
  if ((${#pids[@]})); then stop_pids 15 "${pids[0]}"; fi
  wait 2>/dev/null || true
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'stop; exit 129' HUP
trap stop EXIT

"$BIN/python" -c 'import os, sys; os.setsid(); os.execv(sys.argv[1], sys.argv[1:])' \
  "$BIN/prefect" server start --host "$HOST" --port "$PREFECT_PORT" \
  >var/log/prefect-server.log 2>&1 &
pids+=($!)
echo "starting the Prefect server (log: var/log/prefect-server.log) ..."
for _ in $(seq 1 180); do
  if "$BIN/python" -c "import urllib.request; urllib.request.urlopen('http://$HOST:$PREFECT_PORT/api/health', timeout=2)" 2>/dev/null; then
    break
  fi
  kill -0 "${pids[0]}" 2>/dev/null || { tail -20 var/log/prefect-server.log; exit 1; }
  sleep 1
done

export PREFECT_API_URL="http://$HOST:$PREFECT_PORT/api"
# The bundled files stand in for CBP's monthly release until one is downloaded.
export BORDERCAST_PIPELINE_SOURCES=${BORDERCAST_PIPELINE_SOURCES:-"$PWD/data/cbp-*.csv"}
"$BIN/bordercast" deploy >var/log/runner.log 2>&1 &
pids+=($!)

if "$BIN/bordercast" serve --help >/dev/null 2>&1; then
  "$BIN/bordercast" serve --host "$HOST" --port "$PORT" >var/log/api.log 2>&1 &
  pids+=($!)
  echo "API:        http://$HOST:$PORT (log: var/log/api.log)"
fi
echo "Prefect UI: http://$HOST:$PREFECT_PORT  (deployment monthly-pipeline/monthly; log: var/log/runner.log)"
echo "Run the pipeline now: $BIN/prefect deployment run monthly-pipeline/monthly  (Ctrl-C stops everything)"
wait -n "${pids[@]}"
