# The state of this configuration lives in Azure Blob Storage, so that every
# pipeline run (and every person) works on the same state, one at a time.
# Copy this file beside your configuration and adjust the names. The runner
# signs in with Entra ID (DefaultAzureCredential: workload identity / OIDC in
# a pipeline, az login on a workstation) and needs the role "Storage Blob Data
# Contributor" on the container. The container must exist.
backend "azurerm" {
  storage_account = "contosomilinkstate"
  container       = "milink-state"
  key             = "fleet.milink.state.json"
  # Each workspace (-workspace NAME or MILINK_WORKSPACE) is its own blob:
  # fleet.milink.state.jsonenv:NAME, with its own lock.
}
