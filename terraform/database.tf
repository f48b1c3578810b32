# The database tier: MariaDB Galera nodes, and the two HAProxy nodes in front
# of them that share one reserved IP (the address WordPress connects to).

locals {
  # keepalived runs unicast VRRP between exactly two peers: one holds the
  # reserved IP, the other takes it over when the first fails.
  dblb_count = 2
}

resource "digitalocean_droplet" "db" {
  count = var.db_count

  name              = format("%s-db-%02d", var.project, count.index + 1)
  region            = var.region
  size              = var.db_size
  image             = var.image
  vpc_uuid          = digitalocean_vpc.cluster.id
  ssh_keys          = var.ssh_key_fingerprints
  monitoring        = true
  ipv6              = false
  graceful_shutdown = true
  tags              = [digitalocean_tag.project.id, digitalocean_tag.db.id]
  user_data         = local.user_data

  lifecycle {
    # Each of these forces a new droplet, and a new Galera node means a full
    # state transfer. A tool upgrade (new cloud-init template), a key change
    # or a newer image must never silently replace a database server;
    # Ansible manages users and keys after first boot.
    ignore_changes = [user_data, ssh_keys, image]
  }
}

resource "digitalocean_droplet" "dblb" {
  count = local.dblb_count

  name              = format("%s-dblb-%02d", var.project, count.index + 1)
  region            = var.region
  size              = var.lb_size
  image             = var.image
  vpc_uuid          = digitalocean_vpc.cluster.id
  ssh_keys          = var.ssh_key_fingerprints
  monitoring        = true
  ipv6              = false
  graceful_shutdown = true
  tags              = [digitalocean_tag.project.id, digitalocean_tag.dblb.id]
  user_data         = local.user_data

  lifecycle {
    # As for the other tiers: these force a new droplet, and a tool upgrade
    # or key change must never silently replace a production server.
    ignore_changes = [user_data, ssh_keys, image]
  }
}

# The reserved IP starts on the first HAProxy node; from then on keepalived
# moves it through the API whenever the active node fails. There is
# deliberately no digitalocean_reserved_ip_assignment: that resource would
# see the IP on the other node after a failover and move it back on the next
# apply, onto the node that just failed. ignore_changes on droplet_id keeps
# this resource from doing the same.
resource "digitalocean_reserved_ip" "db" {
  region     = var.region
  droplet_id = digitalocean_droplet.dblb[0].id

  lifecycle {
    ignore_changes = [droplet_id]
  }
}
