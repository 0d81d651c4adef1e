// Failover alerting, deployed in the WATCHING region's resource group: this region's kvdr app is
// told when the OTHER region's vault becomes unavailable, so the app that starts a failover is
// never the one in the failing region (and neither is this alert rule's resource group).
//   - a metric alert on the watched vault's Availability (percent of successful requests);
//   - a Resource Health alert on the watched vault (fires when the platform declares it
//     unavailable, including when metrics stop arriving, which a metric alert cannot see);
//   - an action group whose webhook calls this region's app at /api/alerts with the common alert
//     schema and the app's dedicated alert host key; operators are notified as well.
// Ordering: the host key is created by functionApp.bicep in the same region; main.bicep makes
// this module depend on that region's deployment and reads the key here with listKeys(), so
// the key value never appears in a parameter or an output.

param appName string
param alertKeyName string

@description('Resource id of the vault in the OTHER region.')
param watchedVaultId string

@description('Short name of the watching region (for resource names).')
param regionLabel string

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

var watchedVaultName = last(split(watchedVaultId, '/'))
var alertKey = listKeys('${app.id}/host/default', '2024-04-01').functionKeys[alertKeyName]

resource failoverActionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-kvdr-failover-${regionLabel}'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: take('kvdr-${regionLabel}', 12)
    enabled: true
    webhookReceivers: [
      {
        name: 'kvdr-alert-endpoint'
        serviceUri: 'https://${app.properties.defaultHostName}/api/alerts?code=${alertKey}'
        useCommonAlertSchema: true
        useAadAuth: false
      }
    ]
  }
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

output actionGroupId string = failoverActionGroup.id
output availabilityAlertId string = availability.id
