# HTTPS for the site (docs/https.md): the load balancer
# terminates TLS with a certificate DigitalOcean obtains and renews (Let's
# Encrypt, for a domain in DigitalOcean DNS) or one the user uploaded, and
# sends plain HTTP to the web nodes over the VPC.

locals {
  https  = var.tls != "none"
  domain = trimsuffix(lower(var.domain), ".")
  # A certificate's name is unique in the account and a certificate cannot be
  # changed: a new one (a new name) is made before the old one is removed.
  certificate_name = "${var.project}-${substr(sha256(join("\n", [var.tls, local.domain, var.tls == "custom" ? var.tls_certificate : ""])), 0, 8)}"
  # The record's name inside its zone: "@" at the zone's apex.
  record_name = local.domain == lower(var.dns_zone) ? "@" : trimsuffix(local.domain, ".${lower(var.dns_zone)}")
}

resource "digitalocean_certificate" "site" {
  count = local.https ? 1 : 0

  name = local.certificate_name
  type = var.tls

  # Let's Encrypt: DigitalOcean proves the domain through its own DNS.
  domains = var.tls == "lets_encrypt" ? [local.domain] : null

  private_key       = var.tls == "custom" ? var.tls_private_key : null
  leaf_certificate  = var.tls == "custom" ? var.tls_certificate : null
  certificate_chain = var.tls == "custom" && var.tls_certificate_chain != "" ? var.tls_certificate_chain : null

  lifecycle {
    create_before_destroy = true
    precondition {
      condition     = var.tls != "custom" || (var.tls_certificate != "" && var.tls_private_key != "")
      error_message = "A custom certificate needs tls_certificate, and its key in TF_VAR_tls_private_key (ha-wordpress up sets it from the vault)."
    }
  }
}

# The site's name, when its domain is in DigitalOcean DNS: an A record at
# the load balancer (Let's Encrypt needs the zone there anyway).
resource "digitalocean_record" "site" {
  count = var.dns_zone != "" ? 1 : 0

  domain = lower(var.dns_zone)
  type   = "A"
  name   = local.record_name
  value  = digitalocean_loadbalancer.public.ip
  ttl    = 300
}
