// Private mode, one region: the private DNS zones this region's VNet resolves through, and the
// private endpoints in its endpoint subnet, for
//   - BOTH vaults (each app replicates from whichever vault is primary, so each VNet reaches
//     both; a cross-region private endpoint keeps each region self-sufficient: no VNet peering
//     and no DNS zone shared between regions that a regional outage could take away);
//   - this region's runtime storage (blob, queue, table: the Functions host and the Durable
//     Functions Azure Storage provider use all three);
//   - this region's events storage (queue: the app reads Event Grid deliveries from it).
// The zones are per region and linked only to this region's VNet, so the same zone name in the
// other region's resource group holds that region's addresses.

param vnetId string
param endpointSubnetId string
param location string

@description('Key Vault resource ids, one per region (both regions).')
param vaultIds array

param runtimeStorageId string
param eventsStorageId string
param tags object

var zoneNames = {
  vault: 'privatelink.vaultcore.azure.net'
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  queue: 'privatelink.queue.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
}

var endpoints = concat(
  map(vaultIds, id => {
    name: 'pe-${last(split(id, '/'))}'
    target: id
    groupId: 'vault'
    zone: 'vault'
  }),
  map(['blob', 'queue', 'table'], svc => {
    name: 'pe-${last(split(runtimeStorageId, '/'))}-${svc}'
    target: runtimeStorageId
    groupId: svc
    zone: svc
  }),
  [
    {
      name: 'pe-${last(split(eventsStorageId, '/'))}-queue'
      target: eventsStorageId
      groupId: 'queue'
      zone: 'queue'
    }
  ]
)

resource zones 'Microsoft.Network/privateDnsZones@2020-06-01' = [for zone in items(zoneNames): {
  name: zone.value
  location: 'global'
  tags: tags
}]

resource links 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (zone, i) in items(zoneNames): {
  parent: zones[i]
  name: 'link-${last(split(vnetId, '/'))}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnetId
    }
  }
}]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [for ep in endpoints: {
  name: ep.name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: endpointSubnetId
    }
    privateLinkServiceConnections: [
      {
        name: ep.name
        properties: {
          privateLinkServiceId: ep.target
          groupIds: [
            ep.groupId
          ]
        }
      }
    ]
  }
}]

resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [for (ep, i) in endpoints: {
  parent: privateEndpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: ep.zone
        properties: {
          privateDnsZoneId: resourceId('Microsoft.Network/privateDnsZones', zoneNames[ep.zone])
        }
      }
    ]
  }
  dependsOn: [
    zones
    links
  ]
}]

output privateEndpointCount int = length(endpoints)
