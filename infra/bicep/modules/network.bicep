// One region's virtual network: the subnet the kvdr function app integrates with (Flex
// Consumption delegates it to Microsoft.App/environments) and, in private mode, the subnet that
// holds the private endpoints. Deployed in both network modes: in public mode the app subnet
// carries the Microsoft.KeyVault / Microsoft.Storage service endpoints that let the vault and
// storage firewalls deny everything else by default (Flex Consumption has no stable outbound IPs
// to allow-list).

@description('Azure region of this network.')
param location string

@description('Virtual network name.')
param vnetName string

@description('Address space of this region\'s virtual network; must not overlap the other region\'s.')
param addressPrefix string

@allowed(['public', 'private'])
param networkMode string

@description('Attach a NAT gateway to the app subnet for internet egress (Application Insights ingestion) where subnets have no default outbound access.')
param natGateway bool

param tags object

var isPublic = networkMode == 'public'
// /16 -> a /24 for the app (Flex Consumption needs room to scale out) and a /24 for endpoints.
var appSubnetPrefix = cidrSubnet(addressPrefix, 24, 0)
var endpointSubnetPrefix = cidrSubnet(addressPrefix, 24, 1)

resource natPublicIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = if (natGateway) {
  name: 'pip-${vnetName}-nat'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
  }
}

resource nat 'Microsoft.Network/natGateways@2024-05-01' = if (natGateway) {
  name: 'ng-${vnetName}'
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    publicIpAddresses: [
      {
        id: natPublicIp.id
      }
    ]
  }
}

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${vnetName}'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'snet-app'
        properties: {
          addressPrefix: appSubnetPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
          natGateway: natGateway ? {
            id: nat.id
          } : null
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
          serviceEndpoints: isPublic ? [
            {
              service: 'Microsoft.KeyVault'
            }
            {
              service: 'Microsoft.Storage'
            }
          ] : []
        }
      }
      {
        name: 'snet-endpoints'
        properties: {
          addressPrefix: endpointSubnetPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
          privateEndpointNetworkPolicies: 'Enabled'
        }
      }
    ]
  }
}

output vnetId string = vnet.id
output appSubnetId string = '${vnet.id}/subnets/snet-app'
output endpointSubnetId string = '${vnet.id}/subnets/snet-endpoints'
