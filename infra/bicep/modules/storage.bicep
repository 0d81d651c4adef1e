// A storage account kvdr uses. Shared keys are off (every caller authenticates with Entra ID),
// TLS 1.2 minimum, no anonymous blob access, and the firewall denies by default. Two accounts
// per region use this module:
//   runtime: AzureWebJobsStorage, Durable Functions state, the Flex deployment package.
//            private mode: public network access Disabled (private endpoints only).
//   events:  the Event Grid delivery queue and the dead-letter container. Event Grid is not a
//            private-link client, so this account keeps its public endpoint switched on but
//            Deny-by-default with no IP rules: only the vault's Event Grid system topic (resource
//            instance rule, trusted-service bypass, managed identity + RBAC) and, in public mode,
//            the app subnet get through; in private mode the app uses a private endpoint.

param location string
param accountName string

@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string

@description('Subnets allowed through the firewall (service endpoint Microsoft.Storage).')
param allowedSubnetIds array = []

@description('Resource ids of Azure resources (Event Grid system topics) allowed as trusted resource instances.')
param trustedResourceIds array = []

param blobContainers array = []
param queues array = []
param tags object

var trusted = !empty(trustedResourceIds)

resource account 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  name: accountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      defaultAction: 'Deny'
      bypass: trusted ? 'AzureServices' : 'None'
      ipRules: []
      virtualNetworkRules: map(allowedSubnetIds, id => {
        id: id
        action: 'Allow'
      })
      resourceAccessRules: map(trustedResourceIds, id => {
        tenantId: tenant().tenantId
        resourceId: id
      })
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = [for name in blobContainers: {
  parent: blobService
  name: name
  properties: {
    publicAccess: 'None'
  }
}]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2025-01-01' = {
  parent: account
  name: 'default'
}

resource queueResources 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-01-01' = [for name in queues: {
  parent: queueService
  name: name
}]

output accountId string = account.id
output accountName string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
