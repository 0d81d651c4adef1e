// Failover alerting, deployed in the WATCHING region's resource group: this region's kvdr app is
// told when the OTHER region's vault becomes unavailable, so the app that starts a failover is
// never the one in the failing region (and neither is this alert rule's resource group).
//   - a metric alert on the watched vault's Availability (percent of successful requests);
//   - a Resource Health alert on the watched vault (fires when the platform declares it
//     unavailable, including when metrics stop arriving, which a metric alert cannot see);
//   - a Service Health alert on the subscription for Key Vault incidents in the watched region
//     (a region-wide outage Microsoft declares; Service Health names regions by display name,
//     so main.bicep passes the watched region's display name from regionDisplayNames.json);
//   - an action group whose webhook calls this region's app at /api/alerts with the common alert
//     schema and a function key of the alert function ONLY (a host key would also open approve,
//     failover and failback to anyone who can read the action group); operators are notified
//     as well.
// The key's value is a @secure() parameter kept in the azd environment, so every provision sets
// the same value (a key resource without a value is regenerated at every deployment, which
// would break alert delivery until the action group caught up). The key is stored by the
// Functions host in the app's runtime storage: main.bicep deploys this module after the app's
// storage roles and private links.

param appName string

@description('The function behind POST /api/alerts (triggers/alerts.py).')
param alertFunctionName string

@description('The kvdr code is deployed, so the alert function exists: the host refuses a key for an unknown function.')
param alertFunctionDeployed bool

@description('Name of the alert function\'s key.')
param alertKeyName string

@secure()
@minLength(32)
@description('Value of the alert function\'s key; stable across deployments (rotate on purpose only).')
param alertKey string

@description('Resource id of the vault in the OTHER region.')
param watchedVaultId string

@description('Short name of the watching region (for resource names).')
param regionLabel string

@description('ARM location name of the watched (other) region, e.g. \'eastus2\' (for resource names).')
param watchedRegion string

@minLength(1)
@description('The watched region as Service Health names it in impactedServices[*].ImpactedRegions[*].RegionName: its display name, e.g. \'East US 2\'.')
param watchedRegionDisplayName string

@minValue(1)
@maxValue(100)
param availabilityThresholdPercent int

param evaluationFrequency string
param windowSize string

@description('Resource id of the operators\' action group (shared).')
param operatorsActionGroupId string

param tags object

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: appName
}

resource alertFunction 'Microsoft.Web/sites/functions@2024-04-01' existing = {
  parent: app
  name: alertFunctionName
}

resource alertFunctionKey 'Microsoft.Web/sites/functions/keys@2024-04-01' = if (alertFunctionDeployed) {
  parent: alertFunction
  name: alertKeyName
  value: alertKey
}

var watchedVaultName = last(split(watchedVaultId, '/'))

resource failoverActionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-kvdr-failover-${regionLabel}'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: take('kvdr-${regionLabel}', 12)
    enabled: true
    // until the code is deployed there is no function to call; operators are still notified
    webhookReceivers: alertFunctionDeployed ? [
      {
        name: 'kvdr-alert-endpoint'
        serviceUri: 'https://${app.properties.defaultHostName}/api/alerts?code=${alertKey}'
        useCommonAlertSchema: true
        useAadAuth: false
      }
    ] : []
  }
  dependsOn: [
    alertFunctionKey
  ]
}

resource availability 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'kvdr-vault-availability-${watchedVaultName}'
  location: 'global'
  tags: tags
  properties: {
    description: 'Key Vault ${watchedVaultName} availability below ${availabilityThresholdPercent}%: kvdr in ${regionLabel} evaluates a failover.'
    severity: 1
    enabled: true
    scopes: [
      watchedVaultId
    ]
    evaluationFrequency: evaluationFrequency
    windowSize: windowSize
    autoMitigate: true
    targetResourceType: 'Microsoft.KeyVault/vaults'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'availability'
          metricNamespace: 'Microsoft.KeyVault/vaults'
          metricName: 'Availability'
          operator: 'LessThan'
          threshold: availabilityThresholdPercent
          timeAggregation: 'Average'
        }
      ]
    }
    actions: [
      {
        actionGroupId: failoverActionGroup.id
      }
      {
        actionGroupId: operatorsActionGroupId
      }
    ]
  }
}

resource health 'Microsoft.Insights/activityLogAlerts@2020-10-01' = {
  name: 'kvdr-vault-health-${watchedVaultName}'
  location: 'Global'
  tags: tags
  properties: {
    description: 'Resource Health reports Key Vault ${watchedVaultName} unavailable: kvdr in ${regionLabel} evaluates a failover.'
    enabled: true
    scopes: [
      watchedVaultId
    ]
    condition: {
      allOf: [
        {
          field: 'category'
          equals: 'ResourceHealth'
        }
        {
          field: 'properties.currentHealthStatus'
          equals: 'Unavailable'
        }
      ]
    }
    actions: {
      actionGroups: [
        {
          actionGroupId: failoverActionGroup.id
        }
        {
          actionGroupId: operatorsActionGroupId
        }
      ]
    }
  }
}

// Service Health: Microsoft declares a Key Vault incident in the watched region. Service Health
// rules are scoped to one subscription, the one they are created in, and live in 'Global'
// (Azure Monitor's Service Health alert template samples). The two containsAny conditions are
// independent (Key Vault among the services, the watched region among any service's regions):
// the webhook re-reads Key Vault's own impacted regions and acts only on an active Incident.
resource serviceHealth 'Microsoft.Insights/activityLogAlerts@2020-10-01' = {
  name: 'kvdr-keyvault-incident-${watchedRegion}'
  location: 'Global'
  tags: tags
  properties: {
    description: 'Service Health reports a Key Vault incident in ${watchedRegionDisplayName}: kvdr in ${regionLabel} evaluates a failover.'
    enabled: true
    scopes: [
      subscription().id
    ]
    condition: {
      allOf: [
        {
          field: 'category'
          equals: 'ServiceHealth'
        }
        {
          field: 'properties.incidentType'
          equals: 'Incident'
        }
        {
          field: 'properties.impactedServices[*].ServiceName'
          containsAny: [
            'Key Vault'
          ]
        }
        {
          field: 'properties.impactedServices[*].ImpactedRegions[*].RegionName'
          containsAny: [
            watchedRegionDisplayName
          ]
        }
      ]
    }
    actions: {
      actionGroups: [
        {
          actionGroupId: failoverActionGroup.id
        }
        {
          actionGroupId: operatorsActionGroupId
        }
      ]
    }
  }
}

output actionGroupId string = failoverActionGroup.id
output availabilityAlertId string = availability.id
output serviceHealthAlertId string = serviceHealth.id
