# SQL Server 2022 on Linux in an Azure VM, prepared for the managed instance
# link. Run milink on the VM itself (transport "local") as a user allowed to
# run mssql-conf and restart mssql-server (root, or via sudo).

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
  type        = list(string)
  description = "User databases to prepare for the link."
  default     = ["sales", "inventory"]
}

variable "backup_directory" {
  type        = string
  description = "Directory on the VM that receives the full backups."
  default     = "/var/opt/mssql/backup"
}

sql_server "vm01" {
  address                  = "localhost"
  port                     = 1433
  encrypt                  = "true"
  trust_server_certificate = true # the default self-signed certificate of SQL Server on Linux
  connect_timeout          = "30s"

  authentication {
    method   = "sql"
    user     = "milink"
    password = var.sql_password
  }

  host {
    os              = "linux"
    transport       = "local"
    mssql_conf      = "/var/opt/mssql/mssql.conf"
    mssql_conf_tool = "/opt/mssql/bin/mssql-conf"
    restart_command = ["systemctl", "restart", "mssql-server"]
    restart_timeout = "5m"
  }
}

master_key "vm01" {
  server   = sql_server.vm01
  password = var.master_key_password
}

hadr "vm01" {
  server = sql_server.vm01
}

startup_trace_flags "vm01" {
  server = sql_server.vm01
  flags  = [1800, 9567]
}

# One block for every database in var.databases: database.app["sales"],
# database.app["inventory"], ... Adding a name to the list adds a database.
database "app" {
  for_each = toset(var.databases)
  server   = sql_server.vm01
  name     = each.key
  backup {
    directory = var.backup_directory
  }
  depends_on = [master_key.vm01]
}
