// Both apps publish telemetry to the shared Application Insights with their managed identities
// (local authentication is disabled on the component).

import { roleIds } from 'roles.bicep'

param appInsightsName string
param appPrincipalIds array

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource publishers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principal in appPrincipalIds: {
  name: guid(appInsights.id, principal, roleIds.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: principal
    principalType: 'ServicePrincipal'
  }
}]
