#!/bin/sh
# azd preprovision hook: make sure the parameters main.bicepparam reads from the environment
# exist. The fingerprint key is generated once per environment and then kept: both apps must
# share it, and changing it invalidates every stored fingerprint.
set -eu

get() { azd env get-value "$1" 2>/dev/null || true; }

if [ -z "$(get KVDR_FINGERPRINT_KEY)" ]; then
  echo "kvdr: generating KVDR_FINGERPRINT_KEY for this azd environment (kept in .azure/<env>/.env)"
  azd env set KVDR_FINGERPRINT_KEY "$(openssl rand -hex 32)" >/dev/null
fi
if [ -z "$(get SECONDARY_LOCATION)" ]; then
  echo "kvdr: SECONDARY_LOCATION is not set; using centralus (azd env set SECONDARY_LOCATION <region>)"
  azd env set SECONDARY_LOCATION centralus >/dev/null
fi
if [ -z "$(get NETWORK_MODE)" ]; then
  azd env set NETWORK_MODE private >/dev/null
fi
