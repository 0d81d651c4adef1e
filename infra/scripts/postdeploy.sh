#!/bin/sh
# azd postdeploy hook. Two things can only be provisioned once the code runs in both apps:
#   - the alert function's key and the action groups' webhooks (the Functions host refuses a key
#     for a function it does not know yet), in every network mode;
#   - with Event Grid push delivery (public mode), the event subscriptions (Event Grid validates
#     the destination function).
# So the first `azd up` provisions without them, deploys the code to both apps, and this hook
# provisions once more with APP_CODE_DEPLOYED=true. Later runs set them in the normal provision
# step, with the same key value (ALERT_WEBHOOK_KEY is kept in the azd environment).
set -eu

deployed="$(azd env get-value APP_CODE_DEPLOYED 2>/dev/null || true)"

if [ "$deployed" != "true" ]; then
  echo "kvdr: code deployed to both apps; provisioning the alert webhooks and Event Grid subscriptions"
  azd env set APP_CODE_DEPLOYED true >/dev/null
  azd provision --no-prompt
fi
