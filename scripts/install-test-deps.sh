#!/usr/bin/env bash
# Installs the independent tools the tests use: xmllint (schemas), xmlsec1 (XML signatures and
# encryption), openssl (Redirect signatures), pysaml2 (an IdP we did not write), python3-saml (a second SP for
# the attack differential), redis-server (the shared session store), nginx and caddy (forward-auth in
# front of a portal), chromium (the pages in a real browser), npm (axe-core, and oidc-provider: an
# OpenID provider we did not write).
# Debian/Ubuntu only; idempotent; runs apt-get only when something is missing.
set -euo pipefail

need=()
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
command -v xmlsec1 >/dev/null 2>&1 || need+=(xmlsec1)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
/usr/bin/python3 -c 'import saml2' >/dev/null 2>&1 || need+=(python3-pysaml2)
/usr/bin/python3 -c 'import onelogin.saml2' >/dev/null 2>&1 || need+=(python3-onelogin-saml2)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
[ -x /usr/bin/caddy ] || need+=(caddy)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)

# From the npm registry, pinned by each directory's package-lock.json: axe-core for the
# accessibility checks in the browser tests, and oidc-provider for the OIDC interoperability test
# (it needs node 20.18 or later; Debian 12's own nodejs is 18, on which the test fails).
install_npm() {
  if [ ! -f testdata/browser/node_modules/axe-core/axe.min.js ]; then
    npm ci --prefix testdata/browser --ignore-scripts --no-audit --no-fund >/dev/null
    echo "installed: axe-core (npm)"
  fi
  if [ ! -f testdata/oidc-provider/node_modules/oidc-provider/package.json ]; then
    npm ci --prefix testdata/oidc-provider --ignore-scripts --no-audit --no-fund >/dev/null
    echo "installed: oidc-provider (npm)"
  fi
}
cd "$(dirname "$0")/.."
if [ ${#need[@]} -eq 0 ]; then
  install_npm
  echo "test dependencies present"
  exit 0
fi
echo "installing: ${need[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "need root (or sudo) to install ${need[*]}" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "installed: ${need[*]}"
install_npm
