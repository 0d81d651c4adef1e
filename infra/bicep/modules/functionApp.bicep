// One region's kvdr function app on the Flex Consumption plan (FC1): Python 3.11, system-assigned
// identity, identity-based AzureWebJobsStorage (no connection string, no shared key), the
// deployment package pulled from a blob container with the same identity, and VNet integration
// (every outbound call leaves through this region's app subnet). Basic-auth publishing is off:
// deployments authenticate with Entra ID.
//
// Inbound: public mode keeps the HTTPS endpoint open behind function keys (Event Grid pushes to
// it). Private mode denies everything except the Azure Monitor action-group service tag (the
// failover webhook cannot reach a private endpoint) and the operators' CIDRs; the scm (deploy)
// site keeps its own rules and Entra ID authentication.

param location string
param appName string
param planName string

@description('The runtime storage account (AzureWebJobsStorage, Durable Functions, deployment package).')
param storageAccountName string
param deploymentContainerName string

param appSubnetId string

@allowed(['public', 'private'])
param networkMode string

@description('Operator CIDRs allowed to call the runbook HTTP API in private mode.')
param allowedIpRanges array

@description('The kvdr app settings (KVDR_*) but the fingerprint key, set on top of the platform settings below.')
param kvdrSettings object

@secure()
@description('KVDR_FINGERPRINT_KEY: secure end to end, so that no deployment history records it.')
param fingerprintKey string

param appInsightsConnectionString string

@description('Queue endpoint of the events storage account: the identity-based connection "KvdrEventsQueue" the queue trigger reads Event Grid deliveries with. Deliberately not KVDR_-prefixed: kvdr.config.loading rejects unknown KVDR_* settings.')
param eventsQueueServiceUri string

@minValue(40)
param maximumInstanceCount int

@minValue(0)
@description('Always-ready instances of the Durable Functions group (0: none).')
param durableAlwaysReady int

param tags object

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

var privateInbound = [
  {
    name: 'azure-monitor-action-groups'
    action: 'Allow'
    priority: 100
    tag: 'ServiceTag'
    ipAddress: 'ActionGroup'
  }
]
var operatorInbound = [for (cidr, i) in allowedIpRanges: {
  name: 'operators-${i}'
  action: 'Allow'
  priority: 200 + i
  ipAddress: cidr
}]

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    virtualNetworkSubnetId: appSubnetId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
        // Durable Functions on Flex: keep the orchestrator/activity group warm so that a runbook
        // started after idle (an alert's failover) does not first wait for a cold start
        alwaysReady: durableAlwaysReady > 0 ? [
          {
            name: 'durable'
            instanceCount: durableAlwaysReady
          }
        ] : []
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      ipSecurityRestrictionsDefaultAction: networkMode == 'private' ? 'Deny' : 'Allow'
      ipSecurityRestrictions: networkMode == 'private' ? concat(privateInbound, operatorInbound) : []
      scmIpSecurityRestrictionsUseMain: false
    }
  }
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'appsettings'
  properties: union(kvdrSettings, {
    KVDR_FINGERPRINT_KEY: fingerprintKey
    AzureWebJobsStorage__accountName: storage.name
    AzureWebJobsStorage__credential: 'managedidentity'
    // Explicit service URIs win over accountName, which the host and the Durable provider would
    // otherwise turn into *.core.windows.net URLs (wrong in sovereign clouds).
    AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
    AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
    AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
    KvdrEventsQueue__queueServiceUri: eventsQueueServiceUri
  })
}

resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output appId string = app.id
output appName string = app.name
output hostName string = app.properties.defaultHostName
output principalId string = app.identity.principalId
