# One private network for the whole cluster. Galera replication, the HAProxy
# health checks and the database traffic stay on it; firewall.tf opens the
# database ports to this network's range and nothing else.
resource "digitalocean_vpc" "cluster" {
  name   = "${var.project}-vpc"
  region = var.region

  # No ip_range: DigitalOcean picks one that does not overlap the account's
  # other VPCs in the region. Everything that means "inside the VPC" reads
  # digitalocean_vpc.cluster.ip_range instead of assuming a range.
}
