// Shared observability: one Log Analytics workspace (vault audit logs, function logs) and one
// workspace-based Application Insights resource that both regions' apps report to. Local
// (instrumentation-key) ingestion is disabled: the apps authenticate with their managed
// identities (Monitoring Metrics Publisher, granted in appInsightsAccess.bicep).

param location string
param workspaceName string
param appInsightsName string

@minValue(30)
param retentionInDays int

param tags object

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
  }
}

output workspaceId string = workspace.id
output appInsightsId string = appInsights.id
output appInsightsName string = appInsights.name
output appInsightsConnectionString string = appInsights.properties.ConnectionString
