# What every tier shares: the tags that group the droplets, the first-boot
# configuration, and the DigitalOcean project that lists every resource.

# Tags are resources of their own so they exist before anything selects
# droplets by them (the load balancer's droplet_tag, the firewalls' tags).
resource "digitalocean_tag" "project" {
  name = var.project
}

resource "digitalocean_tag" "web" {
  name = "${var.project}-wp"
}

resource "digitalocean_tag" "db" {
  name = "${var.project}-db"
}

resource "digitalocean_tag" "dblb" {
  name = "${var.project}-dblb"
}

locals {
  # First boot only: the admin user with the project's keys, no root login,
  # no passwords, python3 for Ansible. Ansible owns the hosts after that.
  user_data = templatefile("${path.module}/cloud-init.yaml.tftpl", {
    admin_user = var.admin_user
    ssh_keys   = var.admin_ssh_keys
  })
}

resource "digitalocean_project" "cluster" {
  name = var.project
  # The domain, when there is one, tells projects apart in the control panel.
  description = var.domain == "" ? "Highly available WordPress (ha-wordpress)" : "Highly available WordPress (ha-wordpress) for ${var.domain}"
  purpose     = "Web Application"

  resources = concat(
    digitalocean_droplet.web[*].urn,
    digitalocean_droplet.db[*].urn,
    digitalocean_droplet.dblb[*].urn,
    [digitalocean_loadbalancer.public.urn],
    # DigitalOcean lists a reserved IP in a project as do:floatingip:<ip>, so
    # digitalocean_reserved_ip.db.urn would re-plan on every run (provider
    # issues #1031 and #1264); the maintainers' workaround builds the URN.
    [format("do:floatingip:%s", digitalocean_reserved_ip.db.ip_address)],
  )
}

# Until 0.2 the media bucket lived in this root (only with media offload on,
# which needed keys init never stored); it is in terraform/backup/ now.
# Forgotten here, never deleted: a bucket holds a business's uploads.
removed {
  from = digitalocean_spaces_bucket.media

  lifecycle {
    destroy = false
  }
}
