locals {
  # The health check, from one file that the local lab's stand-in load
  # balancer reads too, so the lab checks as DigitalOcean does. The path is
  # the wordpress role's /healthz (through PHP-FPM, never the database).
  health      = jsondecode(file("${path.module}/lb-healthcheck.json"))
  health_path = local.health.path
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
    protocol = local.health.protocol
    port     = local.health.port
    path     = local.health_path
    # The API's minimums (3 s, 3 s, 2, 2): a dead node leaves the pool after
    # about 6 s and a recovered one returns as quickly.
    check_interval_seconds   = local.health.check_interval_seconds
    response_timeout_seconds = local.health.response_timeout_seconds
    unhealthy_threshold      = local.health.unhealthy_threshold
    healthy_threshold        = local.health.healthy_threshold
  }
}
