// kvdr: the whole multi-region deployment, in one subscription-scoped template.
//
//   rg-<prefix>-shared         Log Analytics, Application Insights, operators' action group,
//                              drill-failure alert
//   rg-<prefix>-<location> x2  per region: Key Vault, kvdr function app (Flex Consumption) and
//                              its storage, VNet (+ private endpoints and DNS in private mode),
//                              the vault's Event Grid system topic, and the alerts that watch
//                              the OTHER region's vault and call THIS region's app.
//
// networkMode 'private': vaults and runtime storage have public network access Disabled and are
// reached through private endpoints; Event Grid delivers into a storage queue.
// networkMode 'public': vault and storage firewalls deny by default and admit the kvdr app
// subnets (service endpoints) and the operators' CIDRs; Event Grid pushes to the function.
// See docs/deployment.md for why, the costs of each mode, and the first sync and drill.

targetScope = 'subscription'

// --- placement -------------------------------------------------------------------------------

@description('Region of the vault that is primary at first deployment.')
param primaryLocation string

@description('The other region (must differ from primaryLocation).')
param secondaryLocation string

@description('Region of the shared monitoring resources. Defaults to the secondary region, so that the telemetry of a failover away from the primary still has somewhere to land.')
param monitoringLocation string = secondaryLocation

@minLength(2)
@maxLength(12)
@description('Short name prefix for every resource (letters and digits; hyphens are dropped).')
param namePrefix string

@allowed(['public', 'private'])
@description('private: no public network access to vaults and runtime storage (private endpoints); public: firewalls deny by default and admit only the kvdr subnets and operator CIDRs.')
param networkMode string = 'private'

@description('Address spaces of the two VNets (primary, secondary); /16 each, not overlapping.')
param vnetAddressPrefixes array = [
  '10.60.0.0/16'
  '10.61.0.0/16'
]

@description('Give the app subnets a NAT gateway for internet egress (Application Insights ingestion). Needed where subnets have no default outbound access.')
param natGateway bool = false

@description('Operator CIDRs admitted by the vault firewalls (public mode) and by the apps\' inbound rules (private mode).')
param operatorIpRanges array = []

@description('Azure location -> geography overrides (the backup/restore boundary); merged over geographies.json.')
param geographies object = {}

@description('Azure location -> region display name overrides (how Service Health names the region, e.g. \'East US 2\'); merged over regionDisplayNames.json. Both locations need one: the Key Vault Service Health alerts filter on it.')
param regionDisplayNames object = {}

// --- kvdr behaviour (app settings; see docs/configuration.md) --------------------------------

@description('Which of the two regions is primary before any failover: \'primary\' or \'secondary\' location.')
@allowed(['primary', 'secondary'])
param initialPrimary string = 'primary'

@allowed(['required', 'auto'])
@description('KVDR_APPROVAL_POLICY: whether alert-started failover and failback wait for an operator.')
param approvalPolicy string = 'required'

@allowed(['ignore', 'mirror'])
@description('KVDR_DELETION_POLICY.')
param deletionPolicy string = 'ignore'

@description('KVDR_DELETION_GRACE_PERIOD.')
param deletionGracePeriod string = '7d'

@description('KVDR_DELETION_BREAKER_MAX_ITEMS.')
param deletionBreakerMaxItems int = 10

@description('KVDR_DELETION_BREAKER_MAX_PERCENT.')
param deletionBreakerMaxPercent string = '5'

@description('Replicate keys by backup/restore (KVDR_KEY_POLICY backup-restore). Only then do the apps get Key Vault Crypto Officer.')
param keyReplication bool = true

@allowed(['report', 'primary-wins'])
@description('KVDR_CONFLICT_POLICY.')
param conflictPolicy string = 'report'

@allowed(['recover', 'report'])
@description('KVDR_SOFT_DELETED_TARGET_POLICY.')
param softDeletedTargetPolicy string = 'recover'

@description('KVDR_PACING_*: per-vault request pacing.')
param pacing object = {
  writesPer10s: 290
  readsPer10s: 2000
  keyCreatesPer10s: 10
  maxParallel: 4
  batchSize: 50
}

@minValue(1)
@description('KVDR_RPO_SECONDS: the recovery point objective.')
param rpoSeconds int = 3600

@minValue(1)
@description('KVDR_RTO_SECONDS: the recovery time objective.')
param rtoSeconds int = 900

@description('KVDR_FULL_SYNC_SCHEDULE (six-field NCRONTAB, UTC).')
param fullSyncSchedule string = '0 0 * * * *'

@description('KVDR_DRILL_SCHEDULE (six-field NCRONTAB, UTC). Default: 04:00 on the 1st of each month.')
param drillSchedule string = '0 0 4 1 * *'

@description('KVDR_TASK_HUB: the Durable Functions task hub.')
param taskHub string = 'kvdr'

@secure()
@minLength(32)
@description('KVDR_FINGERPRINT_KEY: HMAC key for keyed fingerprints; random, at least 32 characters, the same for both apps, stable across deployments.')
param fingerprintKey string

@minValue(0)
@description('Always-ready instances for the Durable Functions group (orchestrators, activities) of each app, as the platform recommends for Durable Functions on Flex Consumption: a runbook started after idle does not wait for a cold start. Billed around the clock (baseline GB-s; see docs/deployment.md); 0 turns them off.')
param durableAlwaysReady int = 1

// --- eventing and alerting ---------------------------------------------------------------------

@allowed(['auto', 'function', 'queue'])
@description('How Event Grid reaches the app: auto = function in public mode, queue in private mode (private mode always uses the queue).')
param eventDelivery string = 'auto'

@description('The kvdr code is already deployed to both apps. With function delivery, Event Grid subscriptions are created only then (Event Grid validates that the function exists); azd\'s postdeploy hook sets it.')
param appCodeDeployed bool = false

@secure()
@minLength(32)
@description('Value of the alert webhook\'s function key (key kvdr-alerts on the alert_webhook function only): random, at least 32 URL-safe characters, kept across deployments so that the action groups keep working (infra/scripts/preprovision.sh generates it once per azd environment). Change it only to rotate the key on purpose (docs/deployment.md).')
param alertWebhookKey string

@description('Name of the Event Grid-triggered function in the kvdr app (public-mode push delivery).')
param eventGridFunctionName string = 'event_grid_sync'

@minValue(1)
@maxValue(100)
@description('Alert when a vault\'s Availability metric (percent) averages below this.')
param availabilityThresholdPercent int = 90

@description('Metric alert evaluation frequency and window (ISO 8601).')
param alertEvaluationFrequency string = 'PT1M'
param alertWindowSize string = 'PT5M'

@description('E-mail addresses of the operators (failover alerts and drill failures).')
param operatorEmails array = []

@description('Object id of the operators\' Entra ID group: Website Contributor on the apps (function keys for the runbook API) and Key Vault Reader on the vaults. Empty grants nothing.')
param operatorsGroupObjectId string = ''

@description('Principal ids of the customers\' rotation jobs: Storage Queue Data Message Processor (peek, receive, delete) on each region\'s kvdr-rotation queue, nothing else. Their network path to the events storage account is theirs to provide (docs/rotation.md).')
param rotationConsumerPrincipalIds array = []

@minValue(30)
param logRetentionDays int = 90

@minValue(40)
@description('Flex Consumption maximum instance count per app (40 is the plan minimum).')
param maximumInstanceCount int = 40

param tags object = {}

// --- names -------------------------------------------------------------------------------------

var prefix = toLower(replace(namePrefix, '-', ''))
var token = take(uniqueString(subscription().id, prefix), 6)
var isPrivate = networkMode == 'private'
var delivery = isPrivate ? 'queue' : (eventDelivery == 'auto' ? 'function' : eventDelivery)
var geographyOf = union(loadJsonContent('geographies.json'), geographies)
var regionDisplayNameOf = union(loadJsonContent('regionDisplayNames.json'), regionDisplayNames)
var allTags = union(tags, {
  application: 'kvdr'
  'azd-env-name': namePrefix
})
var alertKeyName = 'kvdr-alerts'
// the Python function behind POST /api/alerts (triggers/alerts.py)
var alertFunctionName = 'alert_webhook'
var sharedRgName = 'rg-${prefix}-shared'
// "rotation due" messages (kvdr.rotation): one queue in each region's events storage account;
// only the primary's app publishes, so the stream moves with a failover
var rotationQueue = 'kvdr-rotation'

var regions = [for (location, i) in [primaryLocation, secondaryLocation]: {
  location: location
  resourceGroup: 'rg-${prefix}-${location}'
  vault: 'kv-${take(prefix, 6)}-${take(location, 6)}${i}-${token}'
  runtimeStorage: 'st${take(prefix, 6)}${take(location, 6)}${i}r${token}'
  eventsStorage: 'st${take(prefix, 6)}${take(location, 6)}${i}e${token}'
  app: 'func-${prefix}-${location}-${token}'
  plan: 'asp-${prefix}-${location}'
  vnet: 'vnet-${prefix}-${location}'
  systemTopic: 'egst-kv-${take(prefix, 6)}-${take(location, 6)}${i}-${token}'
  deploymentContainer: 'app-package'
  deadLetterContainer: 'eventgrid-deadletter'
  eventsQueue: 'kvdr-events'
  rotationQueue: rotationQueue
  azdService: i == 0 ? 'kvdr' : 'kvdr-secondary'
}]

var kvdrRegions = toObject(regions, r => r.location, r => {
  vault_url: 'https://${r.vault}${environment().suffixes.keyvaultDns}/'
  resource_id: '${subscription().id}/resourceGroups/${r.resourceGroup}/providers/Microsoft.KeyVault/vaults/${r.vault}'
  geography: geographyOf[r.location]
})

// Every KVDR_* setting kvdr reads (kvdr/config/settings.py) but the secret one; KVDR_LOCAL_REGION is
// added per region, KVDR_FINGERPRINT_KEY travels as a @secure() parameter of its own so that the
// deployment history never records it.
var kvdrSettings = {
  KVDR_REGIONS: string(kvdrRegions)
  KVDR_INITIAL_PRIMARY: initialPrimary == 'primary' ? primaryLocation : secondaryLocation
  KVDR_TASK_HUB: taskHub
  KVDR_DELETION_POLICY: deletionPolicy
  KVDR_DELETION_GRACE_PERIOD: deletionGracePeriod
  KVDR_DELETION_BREAKER_MAX_ITEMS: string(deletionBreakerMaxItems)
  KVDR_DELETION_BREAKER_MAX_PERCENT: deletionBreakerMaxPercent
  KVDR_KEY_POLICY: keyReplication ? 'backup-restore' : 'report'
  KVDR_CONFLICT_POLICY: conflictPolicy
  KVDR_SOFT_DELETED_TARGET_POLICY: softDeletedTargetPolicy
  KVDR_APPROVAL_POLICY: approvalPolicy
  KVDR_PACING_WRITES_PER_10S: string(pacing.writesPer10s)
  KVDR_PACING_READS_PER_10S: string(pacing.readsPer10s)
  KVDR_PACING_KEY_CREATES_PER_10S: string(pacing.keyCreatesPer10s)
  KVDR_PACING_MAX_PARALLEL: string(pacing.maxParallel)
  KVDR_PACING_BATCH_SIZE: string(pacing.batchSize)
  KVDR_RPO_SECONDS: string(rpoSeconds)
  KVDR_RTO_SECONDS: string(rtoSeconds)
  KVDR_FULL_SYNC_SCHEDULE: fullSyncSchedule
  KVDR_DRILL_SCHEDULE: drillSchedule
  KVDR_ROTATION_QUEUE: rotationQueue
  // the events storage account's identity-based connection (KvdrEventsQueue__queueServiceUri)
  KVDR_ROTATION_CONNECTION: 'KvdrEventsQueue'
  // honoured only for loopback (emulator) vault URLs; empty means unset in Azure
  KVDR_TLS_CA_BUNDLE: ''
}

// --- resource groups ---------------------------------------------------------------------------

resource sharedRg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: sharedRgName
  location: monitoringLocation
  tags: allTags
}

resource regionRgs 'Microsoft.Resources/resourceGroups@2024-03-01' = [for r in regions: {
  name: r.resourceGroup
  location: r.location
  tags: allTags
}]

// --- shared monitoring ---------------------------------------------------------------------------

module monitoring 'modules/monitoring.bicep' = {
  name: 'kvdr-monitoring'
  scope: sharedRg
  params: {
    location: monitoringLocation
    workspaceName: 'log-${prefix}-${token}'
    appInsightsName: 'appi-${prefix}-${token}'
    retentionInDays: logRetentionDays
    tags: allTags
  }
}

module operatorAlerts 'modules/operatorAlerts.bicep' = {
  name: 'kvdr-operator-alerts'
  scope: sharedRg
  params: {
    location: monitoringLocation
    appInsightsId: monitoring.outputs.appInsightsId
    operatorEmails: operatorEmails
    tags: allTags
  }
}

// --- per region ----------------------------------------------------------------------------------

module network 'modules/network.bicep' = [for (r, i) in regions: {
  name: 'kvdr-network-${r.location}'
  scope: regionRgs[i]
  params: {
    location: r.location
    vnetName: r.vnet
    addressPrefix: vnetAddressPrefixes[i]
    networkMode: networkMode
    natGateway: natGateway
    tags: allTags
  }
}]

module region 'modules/region.bicep' = [for (r, i) in regions: {
  name: 'kvdr-region-${r.location}'
  scope: regionRgs[i]
  params: {
    location: r.location
    networkMode: networkMode
    names: r
    appSubnetId: network[i].outputs.appSubnetId
    allAppSubnetIds: [
      network[0].outputs.appSubnetId
      network[1].outputs.appSubnetId
    ]
    allowedIpRanges: operatorIpRanges
    workspaceId: monitoring.outputs.workspaceId
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    kvdrSettings: union(kvdrSettings, {
      KVDR_LOCAL_REGION: r.location
    })
    fingerprintKey: fingerprintKey
    maximumInstanceCount: maximumInstanceCount
    durableAlwaysReady: durableAlwaysReady
    tags: allTags
    azdServiceName: r.azdService
  }
}]

module privateLinks 'modules/privateLinks.bicep' = [for (r, i) in regions: if (isPrivate) {
  name: 'kvdr-private-links-${r.location}'
  scope: regionRgs[i]
  params: {
    location: r.location
    vnetId: network[i].outputs.vnetId
    endpointSubnetId: network[i].outputs.endpointSubnetId
    vaultIds: [
      region[0].outputs.vaultId
      region[1].outputs.vaultId
    ]
    runtimeStorageId: region[i].outputs.runtimeStorageId
    eventsStorageId: region[i].outputs.eventsStorageId
    tags: allTags
  }
}]

module access 'modules/access.bicep' = [for (r, i) in regions: {
  name: 'kvdr-access-${r.location}'
  scope: regionRgs[i]
  params: {
    vaultName: r.vault
    runtimeStorageName: r.runtimeStorage
    eventsStorageName: r.eventsStorage
    rotationQueueName: r.rotationQueue
    rotationConsumerPrincipalIds: rotationConsumerPrincipalIds
    appName: region[i].outputs.appName
    appPrincipalId: region[i].outputs.appPrincipalId
    allAppPrincipalIds: [
      region[0].outputs.appPrincipalId
      region[1].outputs.appPrincipalId
    ]
    keyReplication: keyReplication
    operatorsGroupObjectId: operatorsGroupObjectId
  }
}]

module appInsightsAccess 'modules/appInsightsAccess.bicep' = {
  name: 'kvdr-appinsights-access'
  scope: sharedRg
  params: {
    appInsightsName: monitoring.outputs.appInsightsName
    appPrincipalIds: [
      region[0].outputs.appPrincipalId
      region[1].outputs.appPrincipalId
    ]
  }
}

// Each vault's events go to the app in the vault's own region (its system topic lives there).
module eventGrid 'modules/eventGrid.bicep' = [for (r, i) in regions: {
  name: 'kvdr-eventgrid-${r.location}'
  scope: regionRgs[i]
  params: {
    location: r.location
    systemTopicName: r.systemTopic
    vaultName: region[i].outputs.vaultName
    delivery: delivery
    subscribe: delivery == 'queue' || appCodeDeployed
    appName: region[i].outputs.appName
    functionName: eventGridFunctionName
    eventsStorageName: r.eventsStorage
    eventsQueueName: r.eventsQueue
    deadLetterContainerName: r.deadLetterContainer
    tags: allTags
  }
  dependsOn: [
    access
  ]
}]

// Region i watches the OTHER region's vault (metric, Resource Health) and region (Service Health
// Key Vault incidents, scoped to the subscription) and calls its own app. The alert webhook's function
// key lives in the app's runtime storage (blob container azure-webjobs-secrets), so setting it
// needs the host's roles on that storage and, in private mode, its private endpoints and DNS:
// this module waits for both. The key is set only once the code is deployed (the host refuses a
// key for a function it does not know); azd's postdeploy hook provisions again for that.
module alerts 'modules/alerts.bicep' = [for (r, i) in regions: {
  name: 'kvdr-alerts-${r.location}'
  scope: regionRgs[i]
  params: {
    appName: region[i].outputs.appName
    alertFunctionName: alertFunctionName
    alertFunctionDeployed: appCodeDeployed
    alertKeyName: alertKeyName
    alertKey: alertWebhookKey
    watchedVaultId: region[1 - i].outputs.vaultId
    regionLabel: r.location
    watchedRegion: regions[1 - i].location
    watchedRegionDisplayName: regionDisplayNameOf[regions[1 - i].location]
    availabilityThresholdPercent: availabilityThresholdPercent
    evaluationFrequency: alertEvaluationFrequency
    windowSize: alertWindowSize
    operatorsActionGroupId: operatorAlerts.outputs.operatorsActionGroupId
    tags: allTags
  }
  dependsOn: [
    access
    privateLinks
  ]
}]

// --- outputs -------------------------------------------------------------------------------------

output AZURE_LOCATION string = primaryLocation
output AZURE_RESOURCE_GROUP string = regions[0].resourceGroup
output NETWORK_MODE string = networkMode
output EVENT_DELIVERY string = delivery

@description('azd service targets (azure.yaml): the app in each region and its resource group.')
output SERVICE_KVDR_NAME string = region[0].outputs.appName
output SERVICE_KVDR_RESOURCE_GROUP string = regions[0].resourceGroup
output SERVICE_KVDR_SECONDARY_NAME string = region[1].outputs.appName
output SERVICE_KVDR_SECONDARY_RESOURCE_GROUP string = regions[1].resourceGroup

@description('Vault URL per region.')
output vaultUrls object = toObject(regions, r => r.location, r => kvdrRegions[r.location].vault_url)

@description('Function app host name per region.')
output appHostNames array = [for (r, i) in regions: {
  location: r.location
  hostName: region[i].outputs.appHostName
}]

@description('Runbook HTTP API base URL per region (function key required: az functionapp keys list).')
output runbookEndpoints array = [for (r, i) in regions: {
  location: r.location
  url: 'https://${region[i].outputs.appHostName}/api/runbooks'
}]

@description('Alert webhook URL per region (called by the action group of the same region, which watches the other region\'s vault; the key is not output).')
output alertEndpoints array = [for (r, i) in regions: {
  location: r.location
  url: 'https://${region[i].outputs.appHostName}/api/alerts'
  watchesVault: regions[1 - i].vault
}]

@description('The "rotation due" queue per region (kvdr.rotation; docs/rotation.md): only the primary\'s app publishes, so a rotation job consumes both and dedupes by message id.')
output rotationQueues array = [for (r, i) in regions: {
  location: r.location
  url: region[i].outputs.rotationQueueUrl
}]
