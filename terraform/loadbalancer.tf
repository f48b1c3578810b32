locals {
  # The wordpress Ansible role serves this static path, so the check does not
  # depend on PHP sessions, redirects or the site's URL settings.
  health_path = "/healthz"
}

# The public entry. Backends are every droplet carrying the web tier tag, so
# adding or replacing a web node needs no change here.
resource "digitalocean_loadbalancer" "public" {
  name        = "${var.project}-lb"
  region      = var.region
  vpc_uuid    = digitalocean_vpc.cluster.id
  size_unit   = 1
  droplet_tag = digitalocean_tag.web.name

  forwarding_rule {
    entry_protocol  = "http"
    entry_port      = 80
    target_protocol = "http"
    target_port     = 80
  }

  healthcheck {
    protocol = "http"
    port     = 80
    path     = local.health_path
    # The API's minimums: a dead node leaves the pool after about 6 s and a
    # recovered one returns as quickly.
    check_interval_seconds   = 3
    response_timeout_seconds = 3
    unhealthy_threshold      = 2
    healthy_threshold        = 2
  }
}
