// Everything one region owns: its Key Vault, its kvdr function app (Flex Consumption) and the
// app's two storage accounts (runtime; events). Deployed once per region by main.bicep.

param location string

@allowed(['public', 'private'])
param networkMode string

param names object

@description('This region\'s app subnet (VNet integration).')
param appSubnetId string

@description('Both regions\' app subnets: each app replicates into both vaults.')
param allAppSubnetIds array

param allowedIpRanges array
param workspaceId string
param appInsightsConnectionString string
param kvdrSettings object

@secure()
@description('KVDR_FINGERPRINT_KEY.')
param fingerprintKey string

param maximumInstanceCount int
param durableAlwaysReady int
param tags object

@description('Tag azd uses to find the app it deploys a service to.')
param azdServiceName string

var isPrivate = networkMode == 'private'
var systemTopicId = resourceId('Microsoft.EventGrid/systemTopics', names.systemTopic)

module vault 'vault.bicep' = {
  name: 'vault-${location}'
  params: {
    location: location
    vaultName: names.vault
    networkMode: networkMode
    allowedSubnetIds: allAppSubnetIds
    allowedIpRanges: allowedIpRanges
    workspaceId: workspaceId
    tags: tags
  }
}

module runtimeStorage 'storage.bicep' = {
  name: 'storage-runtime-${location}'
  params: {
    location: location
    accountName: names.runtimeStorage
    publicNetworkAccess: isPrivate ? 'Disabled' : 'Enabled'
    allowedSubnetIds: isPrivate ? [] : [appSubnetId]
    blobContainers: [
      names.deploymentContainer
    ]
    tags: tags
  }
}

module eventsStorage 'storage.bicep' = {
  name: 'storage-events-${location}'
  params: {
    location: location
    accountName: names.eventsStorage
    publicNetworkAccess: 'Enabled'
    allowedSubnetIds: isPrivate ? [] : [appSubnetId]
    trustedResourceIds: [
      systemTopicId
    ]
    blobContainers: [
      names.deadLetterContainer
    ]
    queues: [
      names.eventsQueue
      '${names.eventsQueue}-poison'
      names.rotationQueue
    ]
    tags: tags
  }
}

module app 'functionApp.bicep' = {
  name: 'app-${location}'
  params: {
    location: location
    appName: names.app
    planName: names.plan
    storageAccountName: runtimeStorage.outputs.accountName
    deploymentContainerName: names.deploymentContainer
    appSubnetId: appSubnetId
    networkMode: networkMode
    allowedIpRanges: allowedIpRanges
    kvdrSettings: kvdrSettings
    fingerprintKey: fingerprintKey
    appInsightsConnectionString: appInsightsConnectionString
    eventsQueueServiceUri: eventsStorage.outputs.queueEndpoint
    maximumInstanceCount: maximumInstanceCount
    durableAlwaysReady: durableAlwaysReady
    tags: union(tags, {
      'azd-service-name': azdServiceName
    })
  }
}

output vaultId string = vault.outputs.vaultId
output vaultUri string = vault.outputs.vaultUri
output runtimeStorageId string = runtimeStorage.outputs.accountId
output eventsStorageId string = eventsStorage.outputs.accountId
output appId string = app.outputs.appId
output appName string = app.outputs.appName
output appHostName string = app.outputs.hostName
output appPrincipalId string = app.outputs.principalId
output rotationQueueUrl string = '${eventsStorage.outputs.queueEndpoint}${names.rotationQueue}'
