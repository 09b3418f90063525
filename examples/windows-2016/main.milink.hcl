# SQL Server 2016 on Windows Server. The link needs SP3 and the Azure Connect
# pack (build 13.0.7000.253 or later), and the machine must be a node of a
# Windows Server Failover Cluster before HADR can be enabled. See README.md.

variable "sql_password" {
  type        = string
  sensitive   = true
  description = "Password of the SQL login milink uses (sysadmin)."
}

variable "master_key_password" {
  type        = string
  sensitive   = true
  description = "Password protecting the database master key in master."

  validation {
    condition     = length(var.master_key_password) >= 12
    error_message = "The master key password must be at least 12 characters."
  }
}

variable "databases" {
  type        = map(string)
  description = "Databases to prepare: block name => database name on the server."
  default = {
    crm = "CRM"
  }
}

sql_server "sql2016" {
  address                  = "localhost"
  encrypt                  = "true"
  trust_server_certificate = true
  # The 2016 instance was configured by hand before; never restart it
  # unannounced: milink configures, then reports the restart as pending.
  restart = "never"

  authentication {
    user     = "milink"
    password = var.sql_password
  }

  host {
    os = "windows"
  }
}

master_key "sql2016" {
  server   = sql_server.sql2016
  password = var.master_key_password
}

hadr "sql2016" {
  server = sql_server.sql2016
}

startup_trace_flags "sql2016" {
  server = sql_server.sql2016
  flags  = [9567, 1800]
}

database "crm" {
  server = sql_server.sql2016
  name   = lookup(var.databases, "crm", "CRM")
  backup {
    directory = "E:\\SQLBackup"
  }
  depends_on = [master_key.sql2016, hadr.sql2016]
}
