// Event Grid for one vault: a system topic in the vault's region and one subscription that
// forwards the vault's change hints to the kvdr app of the SAME region:
//   - Microsoft.KeyVault.{Secret,Key,Certificate}NewVersionCreated  (replicate now)
//   - Microsoft.KeyVault.{Secret,Key,Certificate}{NearExpiry,Expired} (report; re-read state)
// Events are hints (at-least-once, unordered, no values); the app re-reads the latest state and
// ignores events from a vault that is not the current primary; full sync is the backstop.
//
// Delivery:
//   'function' (public mode): pushed to the app's Event Grid-triggered function.
//   'queue'    (private mode, or by choice): written to the events storage queue with the system
//              topic's managed identity (Storage Queue Data Message Sender on that queue only);
//              the app reads the queue. Event Grid cannot push into a private endpoint.
// Both: 30 delivery attempts within 24 h, then dead-lettered (managed identity, Storage Blob
// Data Contributor on the dead-letter container only).

import { roleIds } from 'roles.bicep'

param location string
param systemTopicName string
param vaultName string

@allowed(['function', 'queue'])
param delivery string

@description('Create the subscription. With delivery \'function\' the function must already exist (Event Grid validates the endpoint), so the first deployment, before the code is deployed, passes false.')
param subscribe bool

param appName string

@description('Name of the Event Grid-triggered function in the kvdr app.')
param functionName string

param eventsStorageName string
param eventsQueueName string
param deadLetterContainerName string
param tags object

@description('The event types kvdr acts on.')
param includedEventTypes array = [
  'Microsoft.KeyVault.SecretNewVersionCreated'
  'Microsoft.KeyVault.KeyNewVersionCreated'
  'Microsoft.KeyVault.CertificateNewVersionCreated'
  'Microsoft.KeyVault.SecretNearExpiry'
  'Microsoft.KeyVault.SecretExpired'
  'Microsoft.KeyVault.KeyNearExpiry'
  'Microsoft.KeyVault.KeyExpired'
  'Microsoft.KeyVault.CertificateNearExpiry'
  'Microsoft.KeyVault.CertificateExpired'
]

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: vaultName
}

resource eventsStorage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: eventsStorageName

  resource queueService 'queueServices' existing = {
    name: 'default'

    resource queue 'queues' existing = {
      name: eventsQueueName
    }
  }

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource deadLetter 'containers' existing = {
      name: deadLetterContainerName
    }
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: appName
}

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

resource topicSendsToQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (delivery == 'queue') {
  name: guid(eventsStorage::queueService::queue.id, topic.id, roleIds.storageQueueDataMessageSender)
  scope: eventsStorage::queueService::queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageQueueDataMessageSender)
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource topicWritesDeadLetters 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsStorage::blobService::deadLetter.id, topic.id, roleIds.storageBlobDataContributor)
  scope: eventsStorage::blobService::deadLetter
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataContributor)
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

var queueDestination = {
  endpointType: 'StorageQueue'
  properties: {
    resourceId: eventsStorage.id
    queueName: eventsQueueName
    // -1: messages never expire in the queue; the app decides what is stale
    queueMessageTimeToLiveInSeconds: -1
  }
}

var functionDestination = {
  endpointType: 'AzureFunction'
  properties: {
    resourceId: '${app.id}/functions/${functionName}'
    maxEventsPerBatch: 1
    preferredBatchSizeInKilobytes: 64
  }
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (subscribe) {
  parent: topic
  name: 'kvdr-${delivery}'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: includedEventTypes
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: eventsStorage.id
          blobContainerName: deadLetterContainerName
        }
      }
    }
    destination: delivery == 'function' ? functionDestination : null
    deliveryWithResourceIdentity: delivery == 'queue' ? {
      identity: {
        type: 'SystemAssigned'
      }
      destination: queueDestination
    } : null
  }
  dependsOn: [
    topicSendsToQueue
    topicWritesDeadLetters
  ]
}

output systemTopicId string = topic.id
output subscribed bool = subscribe
