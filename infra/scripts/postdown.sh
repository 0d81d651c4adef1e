#!/bin/sh
# azd postdown hook: the apps are gone, so the next `azd up` creates apps without code. Forget
# that the code was deployed, or that provision would ask the new hosts for the alert function's
# key (404: the function does not exist yet) and fail; postdeploy sets it again.
# The two generated keys stay in the environment: a new deployment keeps its alert key.
set -eu

azd env set APP_CODE_DEPLOYED false >/dev/null
echo "kvdr: APP_CODE_DEPLOYED reset; the next azd up provisions the alert webhooks after the code deploy"
