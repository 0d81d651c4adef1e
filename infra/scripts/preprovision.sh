#!/bin/sh
# azd preprovision hook: make sure the parameters main.bicepparam reads from the environment
# exist. The two secrets are generated once per environment (kept in .azure/<env>/.env) and then
# kept, never printed:
#   KVDR_FINGERPRINT_KEY  both apps must share it; changing it invalidates every stored fingerprint
#   ALERT_WEBHOOK_KEY     the alert function's key the action groups call with; a new value at
#                         every provision would break alert delivery (rotate it on purpose only,
#                         docs/deployment.md)
set -eu

get() { azd env get-value "$1" 2>/dev/null || true; }
secret() { openssl rand -hex 32; }  # 64 hex characters: URL-safe (the alert key rides in ?code=)

if [ -z "$(get KVDR_FINGERPRINT_KEY)" ]; then
  echo "kvdr: generating KVDR_FINGERPRINT_KEY for this azd environment (kept in .azure/<env>/.env)"
  azd env set KVDR_FINGERPRINT_KEY "$(secret)" >/dev/null
fi
if [ -z "$(get ALERT_WEBHOOK_KEY)" ]; then
  echo "kvdr: generating ALERT_WEBHOOK_KEY for this azd environment (kept in .azure/<env>/.env)"
  azd env set ALERT_WEBHOOK_KEY "$(secret)" >/dev/null
fi
if [ -z "$(get SECONDARY_LOCATION)" ]; then
  echo "kvdr: SECONDARY_LOCATION is not set; using centralus (azd env set SECONDARY_LOCATION <region>)"
  azd env set SECONDARY_LOCATION centralus >/dev/null
fi
if [ -z "$(get NETWORK_MODE)" ]; then
  azd env set NETWORK_MODE private >/dev/null
fi
