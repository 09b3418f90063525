# The links themselves: sales and payroll replicate to mi01. Each link
# adds what it needs on both sides unless written here: the endpoint's
# certificate and endpoint on sql01, the certificate trust both ways, an
# availability group and the distributed one; its own step is Azure's
# PUT .../distributedAvailabilityGroups, then a wait until connected.
managed_instance_link "sales" {
  sql_server       = sql_server.sql01
  managed_instance = managed_instance.mi01
  databases        = ["sales"]
}

managed_instance_link "payroll" {
  sql_server       = sql_server.sql01
  managed_instance = managed_instance.mi01
  databases        = ["payroll"]
  # payroll is TDE-protected: mi01 must hold its certificate first.
  depends_on = [tde_certificate.payroll]
}
