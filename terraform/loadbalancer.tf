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

  # HTTPS (tls.tf): 443 terminated here, plain HTTP to the web nodes over
  # the VPC; the load balancer answers port 80 with a redirect to it.
  dynamic "forwarding_rule" {
    for_each = local.https ? [digitalocean_certificate.site[0].name] : []
    content {
      entry_protocol   = "https"
      entry_port       = 443
      target_protocol  = "http"
      target_port      = 80
      certificate_name = forwarding_rule.value
    }
  }
  redirect_http_to_https = local.https
  # DigitalOcean adds an A record at the apex of a Let's Encrypt certificate's
  # DNS domain, pointing here, unless told not to (godo PR #482, provider
  # issue #456): for shop.example.com that would take example.com itself.
  # The site's record is tls.tf's digitalocean_record.site.
  disable_lets_encrypt_dns_records = true

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
