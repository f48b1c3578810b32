# One private network for the whole cluster. Galera replication and state
# transfers, the HAProxy health checks and HAProxy's connections to MariaDB
# stay on it; firewall.tf opens the database ports to this network's range
# and nothing else. One hop does not: WordPress connects to the reserved IP,
# a public address that only the droplets' public interface carries, so its
# queries cross DigitalOcean's public network to the HAProxy holder. That hop
# is TLS, verified both ways against the cluster's own CA (docs/cluster.md,
# "The database path is TLS"), as is everything else on the database path.
resource "digitalocean_vpc" "cluster" {
  name   = "${var.project}-vpc"
  region = var.region

  # No ip_range: DigitalOcean picks one that does not overlap the account's
  # other VPCs in the region. Everything that means "inside the VPC" reads
  # digitalocean_vpc.cluster.ip_range instead of assuming a range.
}
