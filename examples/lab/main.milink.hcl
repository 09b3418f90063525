# The lab: run `milink lab up` in this directory first. It writes
# .milink-lab/lab.json describing the simulated servers; this configuration
# reads it, so nothing here needs editing.

variable "master_key_password" {
  type        = string
  sensitive   = true
  description = "Password protecting the database master key in master. The default is for the lab only: override it (-var master_key_password=... or MILINK_VAR_master_key_password) anywhere else."
  default     = "Lab-Master-Key-Passw0rd!"

  validation {
    condition     = length(var.master_key_password) >= 12
    error_message = "The master key password must be at least 12 characters."
  }
}

locals {
  lab   = jsondecode(file(".milink-lab/lab.json"))
  sql01 = [for s in local.lab.servers : s if s.name == "sql01"][0]
  mi01  = [for s in local.lab.servers : s if s.name == "mi01"][0]
}

sql_server "sql01" {
  address = local.sql01.address
  port    = local.sql01.port
  # As against a real server: encrypted, and the server's certificate
  # verified. The lab made it and lab.json says where it is.
  encrypt     = "true"
  certificate = local.sql01.certificate

  authentication {
    method   = "sql"
    user     = local.sql01.user
    password = local.sql01.password
  }

  host {
    os              = "linux"
    transport       = "local"
    mssql_conf      = local.sql01.mssql_conf
    restart_command = local.sql01.restart_command
    # mssql_conf_tool keeps its default, which does not exist in the lab:
    # milink then edits mssql.conf itself.

    # sql01's host firewall is a network namespace of the lab's own (no
    # root needed, this machine's rules untouched): milink's nft commands
    # run there through nsenter.
    firewall_command_prefix = local.sql01.firewall_command_prefix
  }
}

master_key "sql01" {
  server   = sql_server.sql01
  password = var.master_key_password
}

# The link's ports on sql01's host firewall: 5022 in from the managed
# instance, 5022 and the redirect range 11000-11999 out to it. Only where the
# lab can simulate a host firewall (Linux with user namespaces and nft;
# lab.json's no_host_firewall says why not elsewhere).
firewall_rule "mi_inbound" {
  count            = local.sql01.host_firewall ? 1 : 0
  server           = sql_server.sql01
  direction        = "inbound"
  remote_addresses = ["${local.mi01.address}/32"]
  backend          = "nftables"
}

firewall_rule "mi_outbound" {
  count            = local.sql01.host_firewall ? 1 : 0
  server           = sql_server.sql01
  direction        = "outbound"
  remote_addresses = ["${local.mi01.address}/32"]
  backend          = "nftables"
}

hadr "sql01" {
  server  = sql_server.sql01
  enabled = true
}

startup_trace_flags "sql01" {
  server = sql_server.sql01
  flags  = [1800, 9567]
}

database "sales" {
  server         = sql_server.sql01
  recovery_model = "FULL"
  backup {
    directory = local.sql01.backup_directory
  }
  depends_on = [master_key.sql01]
}

database "inventory" {
  server         = sql_server.sql01
  recovery_model = "FULL"
  backup {
    directory = local.sql01.backup_directory
  }
  depends_on = [master_key.sql01]
}

database "payroll" {
  server         = sql_server.sql01
  recovery_model = "FULL"
  backup {
    directory = local.sql01.backup_directory
  }
  depends_on = [master_key.sql01]
}

# The Azure side: the lab's Resource Manager (lab.json's azure object) and
# its managed instance mi01, which needs payroll's TDE certificate before
# the link can replicate payroll.
locals {
  az = local.lab.azure
}

variable "tde_key_password" {
  type        = string
  sensitive   = true
  description = "Password protecting the private key of payroll's TDE certificate on sql01 (the lab's TDECert is protected by a password, not the master key). The default is the lab's."
  default     = "Lab-TDECert-Passw0rd!"
}

azure "lab" {
  subscription_id  = local.az.subscription_id
  tenant_id        = local.az.tenant_id
  client_id        = local.az.client_id
  client_secret    = local.az.client_secret
  cloud            = "custom"
  resource_manager = local.az.resource_manager
  audience         = local.az.audience
  authority        = local.az.authority
  ca_file          = local.az.ca_file
}

managed_instance "mi01" {
  azure          = azure.lab
  resource_group = local.az.resource_group
  name           = local.az.managed_instance
  # The FQDN Azure reports is known after a refresh only; a saved plan is
  # applied without one, so the address is given.
  address = local.mi01.address
  port    = local.mi01.port
  # A real managed instance's certificate is publicly trusted; the lab's
  # is its own, and managed_instance takes no CA file yet.
  encrypt                  = "true"
  trust_server_certificate = true
  # Microsoft Entra: a token for Azure SQL from the azure block's own
  # credential (the lab's application, mi01's Entra admin); no password.
  authentication {
    method = "entra"
  }
}

# The link's ports on the managed instance's subnet NSG: 5022 and the
# redirect range 11000-11999 in from sql01, 5022 out to it. milink finds a
# free priority and never touches the managed instance's own rules.
nsg_rule "link_in" {
  managed_instance = managed_instance.mi01
  source_addresses = [local.sql01.address]
}

nsg_rule "link_out" {
  managed_instance      = managed_instance.mi01
  direction             = "outbound"
  destination_addresses = [local.sql01.address]
}

tde_certificate "payroll" {
  sql_server           = sql_server.sql01
  managed_instance     = managed_instance.mi01
  private_key_password = var.tde_key_password
}
