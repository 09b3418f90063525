# SQL Server 2019 (CU20 or later) on Windows Server, on premises, named
# instance SALES. milink runs on a workstation or in a pipeline and reaches
# the server's host over SSH (Windows Server 2019 ships OpenSSH Server), as
# an administrator: enabling HADR and trace flags edits the registry and
# restarts the service, through PowerShell on the server. To run milink on
# the server itself instead, set transport = "local" and drop the ssh block.

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

variable "ssh_user" {
  type        = string
  description = "An administrator of the Windows server, as OpenSSH knows it (user or DOMAIN\\user)."
}

variable "ssh_private_key_file" {
  type        = string
  description = "The private key authorized for ssh_user on the server."
}

variable "known_hosts_file" {
  type        = string
  description = "A known_hosts file holding the server's host key (ssh-keyscan prints the line)."
}

variable "server_ca_file" {
  type        = string
  default     = null
  description = "PEM file of the CA that signed SQL Server's TLS certificate, when this machine's trust store does not hold it."
}

variable "ssh_address" {
  type        = string
  default     = null
  description = "Address of the host's OpenSSH server, when it is not server_address."
}

variable "ssh_port" {
  type        = number
  default     = 22
  description = "Port of the host's OpenSSH server."
}

variable "server_address" {
  type        = string
  description = "Name or address of the SQL Server host as this machine resolves it."
  default     = "localhost"
}

sql_server "sql2019" {
  address                  = var.server_address
  port                     = 1433
  instance                 = "SALES"
  encrypt                  = "true"
  trust_server_certificate = false
  certificate              = var.server_ca_file
  restart                  = "auto"
  support_matrix           = "current"

  authentication {
    method   = "sql"
    user     = "milink"
    password = var.sql_password
  }

  host {
    os        = "windows"
    transport = "ssh"
    ssh {
      address           = var.ssh_address
      port              = var.ssh_port
      user              = var.ssh_user
      private_key_files = [var.ssh_private_key_file]
      known_hosts_files = [var.known_hosts_file]
    }
    # restart_command: by default milink's own PowerShell script restarts
    # MSSQL$SALES and starts again the services that depend on it (SQL Agent).
    restart_timeout = "10m"
  }
}

master_key "sql2019" {
  server   = sql_server.sql2019
  password = var.master_key_password
}

hadr "sql2019" {
  server  = sql_server.sql2019
  enabled = true
}

startup_trace_flags "sql2019" {
  server = sql_server.sql2019
}

database "orders" {
  server         = sql_server.sql2019
  name           = "Orders"
  recovery_model = "FULL"
  backup {
    directory   = "D:\\Backup"
    compression = true
    checksum    = true
  }
  depends_on = [master_key.sql2019]
}
