#!/bin/sh
# azd postdeploy hook. With Event Grid push delivery (public mode) the event subscriptions can
# only be created once the Event Grid-triggered function exists, i.e. after the first code
# deployment: Event Grid validates the destination. So the first `azd up` provisions without
# them, deploys the code to both apps, and this hook provisions once more with
# APP_CODE_DEPLOYED=true. Later runs create the subscriptions in the normal provision step.
set -eu

delivery="$(azd env get-value EVENT_DELIVERY 2>/dev/null || true)"
deployed="$(azd env get-value APP_CODE_DEPLOYED 2>/dev/null || true)"

if [ "$delivery" = "function" ] && [ "$deployed" != "true" ]; then
  echo "kvdr: code deployed to both apps; creating the Event Grid subscriptions"
  azd env set APP_CODE_DEPLOYED true >/dev/null
  azd provision --no-prompt
fi
