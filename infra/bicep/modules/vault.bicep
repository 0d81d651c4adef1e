// One region's Key Vault: Azure RBAC authorization (no access policies), soft delete kept 90 days,
// purge protection on (it can never be turned off again), and audit logs to Log Analytics.
//   private mode: publicNetworkAccess Disabled; reached only through private endpoints.
//   public mode:  firewall Deny by default; allowed are the two kvdr app subnets (service
//                 endpoint Microsoft.KeyVault) and the operators' CIDRs, plus trusted Azure
//                 services (needed for nothing kvdr does, but for backup/monitoring tooling).

param location string
param vaultName string

@allowed(['public', 'private'])
param networkMode string

@description('Subnets (both regions\' app subnets) allowed through the firewall in public mode.')
param allowedSubnetIds array

@description('Operator CIDRs allowed through the firewall in public mode.')
param allowedIpRanges array

param workspaceId string
param tags object

var isPrivate = networkMode == 'private'

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: vaultName
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: isPrivate ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: isPrivate ? 'None' : 'AzureServices'
      virtualNetworkRules: isPrivate ? [] : map(allowedSubnetIds, id => {
        id: id
        ignoreMissingVnetServiceEndpoint: false
      })
      ipRules: isPrivate ? [] : map(allowedIpRanges, cidr => {
        value: cidr
      })
    }
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output vaultId string = vault.id
output vaultName string = vault.name
output vaultUri string = vault.properties.vaultUri
