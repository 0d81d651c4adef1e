// Role assignments inside one region's resource group, least privilege:
//   this region's vault  -> BOTH apps: Key Vault Secrets Officer + Certificates Officer
//                           (+ Crypto Officer only when key backup/restore replication is on);
//                           each app replicates from whichever vault is primary into the other.
//                        -> operators: Key Vault Reader (vault metadata, never values).
//   runtime storage      -> this app: Blob Data Owner (the Functions host's identity-based
//                           AzureWebJobsStorage role), Queue + Table Data Contributor (Durable).
//   events storage       -> this app: Queue Data Contributor (read, delete, poison queue).
//   kvdr-rotation queue  -> this app: Queue Data Message Sender, the least role that enqueues
//                           (the account-wide role above covers it today; granted on the queue
//                           itself so that narrowing that role never silences the signal).
//                        -> rotation jobs: Queue Data Message Processor (peek, receive, delete).
//   this app             -> operators: Website Contributor, the narrowest built-in role that can
//                           list the function keys the runbook HTTP API requires.

import { roleIds } from 'roles.bicep'

param vaultName string
param runtimeStorageName string
param eventsStorageName string

@description('The "rotation due" queue in the events storage account (kvdr.rotation).')
param rotationQueueName string

@description('Principal ids of the customers\' rotation jobs; empty grants nothing.')
param rotationConsumerPrincipalIds array = []
param appName string

@description('Principal ids of both regions\' kvdr apps.')
param allAppPrincipalIds array

@description('Principal id of this region\'s kvdr app.')
param appPrincipalId string

param keyReplication bool

@description('Object id of the operators\' Entra ID group; empty grants nothing.')
param operatorsGroupObjectId string

var vaultRoles = concat(
  [
    roleIds.keyVaultSecretsOfficer
    roleIds.keyVaultCertificatesOfficer
  ],
  keyReplication ? [roleIds.keyVaultCryptoOfficer] : []
)
var vaultGrants = flatten(map(allAppPrincipalIds, principal => map(vaultRoles, role => {
  principal: principal
  role: role
})))
var runtimeRoles = [
  roleIds.storageBlobDataOwner
  roleIds.storageQueueDataContributor
  roleIds.storageTableDataContributor
]
var hasOperators = !empty(operatorsGroupObjectId)

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: vaultName
}

resource runtimeStorage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: runtimeStorageName
}

resource eventsStorage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: eventsStorageName

  resource queueService 'queueServices' existing = {
    name: 'default'

    resource rotationQueue 'queues' existing = {
      name: rotationQueueName
    }
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: appName
}

resource appsOnVault 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for grant in vaultGrants: {
  name: guid(vault.id, grant.principal, grant.role)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', grant.role)
    principalId: grant.principal
    principalType: 'ServicePrincipal'
  }
}]

resource appOnRuntimeStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in runtimeRoles: {
  name: guid(runtimeStorage.id, appPrincipalId, role)
  scope: runtimeStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

resource appOnEventsQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsStorage.id, appPrincipalId, roleIds.storageQueueDataContributor)
  scope: eventsStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageQueueDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appSendsRotation 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsStorage::queueService::rotationQueue.id, appPrincipalId, roleIds.storageQueueDataMessageSender)
  scope: eventsStorage::queueService::rotationQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageQueueDataMessageSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource consumersReceiveRotation 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principal in rotationConsumerPrincipalIds: {
  name: guid(eventsStorage::queueService::rotationQueue.id, principal, roleIds.storageQueueDataMessageProcessor)
  scope: eventsStorage::queueService::rotationQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageQueueDataMessageProcessor)
    principalId: principal
    principalType: 'ServicePrincipal'
  }
}]

resource operatorsOnVault 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperators) {
  name: guid(vault.id, operatorsGroupObjectId, roleIds.keyVaultReader)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultReader)
    principalId: operatorsGroupObjectId
    principalType: 'Group'
  }
}

resource operatorsOnApp 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperators) {
  name: guid(app.id, operatorsGroupObjectId, roleIds.websiteContributor)
  scope: app
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.websiteContributor)
    principalId: operatorsGroupObjectId
    principalType: 'Group'
  }
}
