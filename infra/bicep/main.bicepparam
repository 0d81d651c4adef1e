// Example parameters for main.bicep. Works for both deployment paths:
//   azd up                       azd provides AZURE_ENV_NAME and AZURE_LOCATION; set the rest
//                                with `azd env set NAME value` (scripts/preprovision.sh makes
//                                the fingerprint key and the alert webhook key on first use
//                                and keeps them).
//   az deployment sub create     export the same environment variables first.
using './main.bicep'

param namePrefix = readEnvironmentVariable('AZURE_ENV_NAME', 'kvdr')
param primaryLocation = readEnvironmentVariable('AZURE_LOCATION', 'eastus2')
param secondaryLocation = readEnvironmentVariable('SECONDARY_LOCATION', 'centralus')
param networkMode = readEnvironmentVariable('NETWORK_MODE', 'private')
param initialPrimary = 'primary'
param approvalPolicy = 'required'
param deletionPolicy = 'ignore'
param keyReplication = true
param rpoSeconds = 3600
param rtoSeconds = 900
param drillSchedule = '0 0 4 1 * *'
param availabilityThresholdPercent = 90
param operatorsGroupObjectId = readEnvironmentVariable('OPERATORS_GROUP_ID', '')
param operatorEmails = empty(readEnvironmentVariable('OPERATOR_EMAIL', '')) ? [] : [
  readEnvironmentVariable('OPERATOR_EMAIL', '')
]
param operatorIpRanges = empty(readEnvironmentVariable('OPERATOR_CIDR', '')) ? [] : [
  readEnvironmentVariable('OPERATOR_CIDR', '')
]
param appCodeDeployed = bool(readEnvironmentVariable('APP_CODE_DEPLOYED', 'false'))
param fingerprintKey = readEnvironmentVariable('KVDR_FINGERPRINT_KEY')
param alertWebhookKey = readEnvironmentVariable('ALERT_WEBHOOK_KEY')
param durableAlwaysReady = int(readEnvironmentVariable('DURABLE_ALWAYS_READY', '1'))
param tags = {
  costCenter: 'security'
}
