// What pages humans (shared resource group): an operators' action group (e-mail; optional) and
// the drill-failure alert. A failed drill must never start a failover, so this alert goes to
// people only.
//
// Contract with the code: at the end of every drill the app emits the Application Insights
// custom event "kvdr.drill.completed" with customDimensions.result = "passed" | "failed" (and
// runbook id, regions, durations; never a secret value). Anything but "passed" fires the alert.

param location string
param appInsightsId string

@description('E-mail addresses notified of failover alerts and drill failures.')
param operatorEmails array

param tags object

resource operators 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-kvdr-operators'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'kvdr-ops'
    enabled: true
    emailReceivers: [for (address, i) in operatorEmails: {
      name: 'operator-${i}'
      emailAddress: address
      useCommonAlertSchema: true
    }]
  }
}

resource drillFailed 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'kvdr-drill-failed'
  location: location
  tags: tags
  properties: {
    description: 'A kvdr DR drill finished with a result other than "passed".'
    severity: 2
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'customEvents | where name == "kvdr.drill.completed" | where tostring(customDimensions.result) != "passed"'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        operators.id
      ]
    }
  }
}

output operatorsActionGroupId string = operators.id
