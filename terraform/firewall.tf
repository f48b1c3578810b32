# Cloud firewalls for the web and Galera tiers, attached by tier tag so new
# droplets are covered from their first boot.
#
# The HAProxy (dblb) droplets deliberately get NO cloud firewall. DigitalOcean
# cloud firewalls know only tcp, udp and icmp and drop everything else, so the
# unicast VRRP (IP protocol 112) that keepalived exchanges between the two
# HAProxy nodes would be dropped: each node would believe its peer dead and
# both would claim the reserved IP. Their host firewall (nftables, from the
# Ansible common role) allows 3306 and the HAProxy stats port 8404 from the
# VPC, VRRP from the peer, and SSH from ssh_allow.

locals {
  anywhere = ["0.0.0.0/0", "::/0"]
}

resource "digitalocean_firewall" "web" {
  name = "${var.project}-wp-fw"
  tags = [digitalocean_tag.web.name]

  # HTTP only through the load balancer (its traffic and its health checks).
  inbound_rule {
    protocol                  = "tcp"
    port_range                = "80"
    source_load_balancer_uids = [digitalocean_loadbalancer.public.id]
  }

  # The API accepts bare addresses as well as CIDR blocks, so ssh_allow
  # passes through as the user wrote it.
  inbound_rule {
    protocol         = "tcp"
    port_range       = "22"
    source_addresses = var.ssh_allow
  }

  # Out: packages, the DigitalOcean API and Spaces, the database.
  outbound_rule {
    protocol              = "tcp"
    port_range            = "1-65535"
    destination_addresses = local.anywhere
  }

  outbound_rule {
    protocol              = "udp"
    port_range            = "1-65535"
    destination_addresses = local.anywhere
  }

  outbound_rule {
    protocol              = "icmp"
    destination_addresses = local.anywhere
  }
}

resource "digitalocean_firewall" "db" {
  name = "${var.project}-db-fw"
  tags = [digitalocean_tag.db.name]

  # MariaDB clients: the HAProxy nodes, and the Galera nodes themselves.
  inbound_rule {
    protocol         = "tcp"
    port_range       = "3306"
    source_addresses = [digitalocean_vpc.cluster.ip_range]
  }

  # Galera state snapshot transfer (SST).
  inbound_rule {
    protocol         = "tcp"
    port_range       = "4444"
    source_addresses = [digitalocean_vpc.cluster.ip_range]
  }

  # Galera group communication (tcp and udp).
  inbound_rule {
    protocol         = "tcp"
    port_range       = "4567"
    source_addresses = [digitalocean_vpc.cluster.ip_range]
  }

  inbound_rule {
    protocol         = "udp"
    port_range       = "4567"
    source_addresses = [digitalocean_vpc.cluster.ip_range]
  }

  # Galera incremental state transfer (IST).
  inbound_rule {
    protocol         = "tcp"
    port_range       = "4568"
    source_addresses = [digitalocean_vpc.cluster.ip_range]
  }

  # The health endpoint HAProxy checks (200 only when the node is Synced).
  inbound_rule {
    protocol         = "tcp"
    port_range       = "9200"
    source_addresses = [digitalocean_vpc.cluster.ip_range]
  }

  inbound_rule {
    protocol         = "tcp"
    port_range       = "22"
    source_addresses = var.ssh_allow
  }

  # Out: packages and the DigitalOcean API; replication inside the VPC.
  outbound_rule {
    protocol              = "tcp"
    port_range            = "1-65535"
    destination_addresses = local.anywhere
  }

  outbound_rule {
    protocol              = "udp"
    port_range            = "1-65535"
    destination_addresses = local.anywhere
  }

  outbound_rule {
    protocol              = "icmp"
    destination_addresses = local.anywhere
  }
}
