#!/usr/bin/env bash
# Sets up everything callpolicy needs on a fresh Debian machine: system packages (when
# missing), a virtualenv in .venv, and the package with its Cython extension built
# (only when its inputs changed since the last run: see the stamp below).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# redis-server backs the Redis store tests; sipp (sip-tester) drives the SIP edge tests;
# chromium runs the browser tests of the customer pages (tests/web, driven by Playwright
# from the venv: no browser download); npm installs axe-core for them.
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v sipp >/dev/null 2>&1 || need_apt+=(sip-tester)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
# kamailio plays the SBC in front of the edge in redirect mode (the tests and benchmark of
# docs/examples/kamailio-redirect.cfg); it lives in /usr/sbin, which a user's PATH may lack.
{ command -v kamailio || [ -x /usr/sbin/kamailio ]; } >/dev/null 2>&1 || need_apt+=(kamailio)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  # The package starts its own kamailio service on port 5060, the edge's port in make run.
  case " ${need_apt[*]} " in
    *" kamailio "*) $SUDO systemctl disable --now kamailio >/dev/null 2>&1 || true ;;
  esac
fi

# The browser tests' npm packages (axe-core, pinned by tests/web/package-lock.json), in
# tests/web/node_modules: `npm ci` again only when the lock file changed (a stamp inside
# node_modules, which npm ci replaces) or the packages are gone.
web=tests/web
if [ -f "$web/package-lock.json" ]; then
  web_want="$(cat "$web/package.json" "$web/package-lock.json" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$web/node_modules/.callpolicy-install" 2>/dev/null)" != "$web_want" ] ||
     [ ! -f "$web/node_modules/axe-core/axe.min.js" ]; then
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$web_want" > "$web/node_modules/.callpolicy-install"
  fi
fi

# durable-rules 2.0.28 imports on CPython 3.10-3.12 only: pick the first such interpreter.
PY=""
for cand in "${PYTHON:-}" python3.11 python3.12 python3.10 python3; do
  [ -n "$cand" ] || continue
  if command -v "$cand" >/dev/null 2>&1 &&
     "$cand" -c 'import sys; raise SystemExit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' 2>/dev/null; then
    PY="$cand"; break
  fi
done
[ -n "$PY" ] || { echo "bootstrap: need CPython 3.10-3.12 (durable-rules does not import on 3.13)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$PY" -m venv .venv

# The install (pip, the dependencies, the Cython build: most of a start's time) depends
# on the interpreter, pyproject.toml, setup.py and the Cython sources; the rest of the
# package is installed editable, so a Python edit needs no install. When none of these
# changed since the last install, and every extension is still built beside its .pyx,
# skip it. CALLPOLICY_REINSTALL=1 installs anyway.
stamp=.venv/.callpolicy-install
inputs() {
  .venv/bin/python -c 'import sys; print(sys.version)'
  {
    find . \( -path ./.venv -o -path ./build -o -path ./.git \) -prune -o \
      \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' \) -print
    # Plain C compiled into the extensions (sip_edge/fast); Cython's own output is _*.c.
    find ./compiled ./sip_edge \( -name '*.h' -o \( -name '*.c' ! -name '_*' \) \) -print
  } | LC_ALL=C sort | xargs sha256sum pyproject.toml setup.py
}
built() {
  local pyx
  for pyx in compiled/*.pyx sip_edge/*.pyx sip_edge/wire/*.pyx sip_edge/fast/*.pyx; do
    [ -e "$pyx" ] || continue  # a pattern that matched nothing
    compgen -G "${pyx%.pyx}.*.so" >/dev/null || return 1
  done
  [ -x .venv/bin/callpolicy ]
}
want="$(inputs | sha256sum | cut -d' ' -f1)"
if [ "${CALLPOLICY_REINSTALL:-0}" != 1 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && built; then
  echo "bootstrap: .venv is up to date (pyproject.toml, setup.py, *.pyx unchanged)"
  exit 0
fi
rm -f "$stamp"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev,bench]'
echo "$want" > "$stamp"
