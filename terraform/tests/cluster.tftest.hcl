# Plan-time checks of the cluster's code with a mocked DigitalOcean provider
# (the real provider's schema, no API): `terraform test` in terraform/.
# The mocked values stand in for what DigitalOcean computes; the firewall
# checks read the VPC's range from the mock, so "inside the VPC" is tested
# against a real CIDR block.

mock_provider "digitalocean" {
  override_during = plan

  mock_resource "digitalocean_vpc" {
    defaults = {
      ip_range = "10.110.0.0/20"
      urn      = "do:vpc:5a4981aa-9653-4bd1-bef5-d6bff52042e4"
    }
  }

  # Droplet ids are numbers on DigitalOcean (the reserved IP's droplet_id
  # needs one).
  mock_resource "digitalocean_droplet" {
    defaults = {
      id                   = "402000000"
      ipv4_address         = "203.0.113.10"
      ipv4_address_private = "10.110.0.10"
      urn                  = "do:droplet:402000000"
    }
  }

  mock_resource "digitalocean_loadbalancer" {
    defaults = {
      ip  = "198.51.100.10"
      urn = "do:loadbalancer:4de7ac8b-495b-4884-9a69-1050c6793cd6"
    }
  }

  mock_resource "digitalocean_reserved_ip" {
    defaults = {
      ip_address = "192.0.2.10"
      urn        = "do:reservedip:192.0.2.10"
    }
  }
}

# DigitalOcean's tag id is its name.
override_resource {
  target          = digitalocean_tag.project
  override_during = plan
  values          = { id = "shop" }
}

override_resource {
  target          = digitalocean_tag.web
  override_during = plan
  values          = { id = "shop-wp" }
}

override_resource {
  target          = digitalocean_tag.db
  override_during = plan
  values          = { id = "shop-db" }
}

override_resource {
  target          = digitalocean_tag.dblb
  override_during = plan
  values          = { id = "shop-dblb" }
}

variables {
  project              = "shop"
  region               = "fra1"
  ssh_key_fingerprints = ["3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"]
  admin_ssh_keys       = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKWv8pgsI/r58MP90m7n3pHvQDJGYECmd5FiS56MmC7m sammy@workstation"]
  ssh_allow            = ["203.0.113.7/32", "2001:db8::/64"]
}

run "database_ports_are_reachable_only_from_inside_the_vpc" {
  command = plan

  # Every inbound rule of every firewall that reaches a Galera port or the
  # health endpoint (a tcp/udp rule whose range covers it; no range means all
  # ports) admits only addresses inside the VPC's range: no 0.0.0.0/0, no
  # ::/0, no IPv6 at all, and no load balancer, tag or droplet source.
  assert {
    condition = alltrue(flatten([
      for fw in [digitalocean_firewall.web, digitalocean_firewall.db] : [
        for r in fw.inbound_rule : alltrue(concat(
          [
            for a in coalesce(r.source_addresses, []) :
            !strcontains(a, ":") && tonumber(split("/", strcontains(a, "/") ? a : "${a}/32")[1]) >= tonumber(split("/", digitalocean_vpc.cluster.ip_range)[1]) && cidrhost(format("%s/%s", cidrhost(strcontains(a, "/") ? a : "${a}/32", 0), split("/", digitalocean_vpc.cluster.ip_range)[1]), 0) == cidrhost(digitalocean_vpc.cluster.ip_range, 0)
          ],
          [length(coalesce(r.source_load_balancer_uids, [])) == 0, length(coalesce(r.source_tags, [])) == 0, length(coalesce(r.source_droplet_ids, [])) == 0]
        ))
        if r.protocol != "icmp" && anytrue([
          for p in [3306, 4444, 4567, 4568, 9200] :
          contains(["", "all"], coalesce(r.port_range, "")) || (tonumber(split("-", r.port_range)[0]) <= p && p <= tonumber(reverse(split("-", r.port_range))[0]))
        ])
      ]
    ]))
    error_message = "A firewall rule lets something outside the VPC reach 3306, 4444, 4567, 4568 or 9200."
  }

  # The database firewall opens exactly the Galera ports and the health
  # endpoint to the VPC, so the check above has rules to look at.
  assert {
    condition = toset([
      for r in digitalocean_firewall.db.inbound_rule : "${r.protocol}/${r.port_range}" if contains(coalesce(r.source_addresses, []), digitalocean_vpc.cluster.ip_range)
    ]) == toset(["tcp/3306", "tcp/4444", "tcp/4567", "udp/4567", "tcp/4568", "tcp/9200"])
    error_message = "The database firewall must open tcp 3306, 4444, 4567, 4568, 9200 and udp 4567 to the VPC."
  }

  assert {
    condition     = digitalocean_firewall.db.tags == toset([digitalocean_tag.db.name]) && digitalocean_firewall.web.tags == toset([digitalocean_tag.web.name])
    error_message = "Each firewall must attach to its tier by the tier's tag."
  }
}

run "ssh_is_reachable_only_from_ssh_allow" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for fw in [digitalocean_firewall.web, digitalocean_firewall.db] : [
        for r in fw.inbound_rule : toset(coalesce(r.source_addresses, [])) == toset(var.ssh_allow) && length(coalesce(r.source_load_balancer_uids, [])) + length(coalesce(r.source_tags, [])) + length(coalesce(r.source_droplet_ids, [])) == 0
        if r.protocol == "tcp" && (contains(["", "all"], coalesce(r.port_range, "")) || (tonumber(split("-", r.port_range)[0]) <= 22 && 22 <= tonumber(reverse(split("-", r.port_range))[0])))
      ]
    ]))
    error_message = "A firewall rule reaching port 22 admits something other than ssh_allow."
  }

  assert {
    condition     = length([for fw in [digitalocean_firewall.web, digitalocean_firewall.db] : fw if anytrue([for r in fw.inbound_rule : r.protocol == "tcp" && r.port_range == "22"])]) == 2
    error_message = "Both tiers need their SSH rule."
  }

  # Nothing anywhere is open to the whole internet once ssh_allow is narrow.
  assert {
    condition = alltrue(flatten([
      for fw in [digitalocean_firewall.web, digitalocean_firewall.db] : [
        for r in fw.inbound_rule : length(setintersection(toset(coalesce(r.source_addresses, [])), toset(["0.0.0.0/0", "::/0"]))) == 0
      ]
    ]))
    error_message = "An inbound rule is open to 0.0.0.0/0 or ::/0 although ssh_allow is narrower."
  }
}

run "http_reaches_the_web_tier_only_from_the_load_balancer" {
  command = plan

  assert {
    condition = alltrue([
      for r in digitalocean_firewall.web.inbound_rule : r.protocol == "tcp" && r.port_range == "22" || (
        r.protocol == "tcp" && r.port_range == "80" && toset(coalesce(r.source_load_balancer_uids, [])) == toset([digitalocean_loadbalancer.public.id]) && length(coalesce(r.source_addresses, [])) + length(coalesce(r.source_tags, [])) + length(coalesce(r.source_droplet_ids, [])) == 0
      )
    ])
    error_message = "The web firewall may open only SSH (from ssh_allow) and port 80 from the load balancer."
  }

  assert {
    condition     = length([for r in digitalocean_firewall.web.inbound_rule : r if r.port_range == "80"]) == 1
    error_message = "The web firewall must open port 80 to the load balancer."
  }
}

run "the_load_balancer_sends_traffic_to_the_web_tier_by_tag" {
  command = plan

  assert {
    condition     = digitalocean_loadbalancer.public.droplet_tag == digitalocean_tag.web.name && digitalocean_tag.web.name == "shop-wp"
    error_message = "The load balancer's backends must be the web tier's tag."
  }

  assert {
    condition     = alltrue([for d in digitalocean_droplet.web : contains(d.tags, digitalocean_tag.web.id)]) && alltrue([for d in concat(digitalocean_droplet.db, digitalocean_droplet.dblb) : !contains(d.tags, digitalocean_tag.web.id)])
    error_message = "Exactly the web droplets carry the web tag."
  }

  assert {
    condition     = one(digitalocean_loadbalancer.public.healthcheck).path == "/healthz" && one(digitalocean_loadbalancer.public.healthcheck).port == 80 && one(digitalocean_loadbalancer.public.healthcheck).check_interval_seconds == 3 && one(digitalocean_loadbalancer.public.healthcheck).unhealthy_threshold == 2
    error_message = "The load balancer checks /healthz on port 80 every 3 s, out after 2 failures (lb-healthcheck.json)."
  }

  assert {
    condition     = [for r in digitalocean_loadbalancer.public.forwarding_rule : "${r.entry_protocol}:${r.entry_port}->${r.target_protocol}:${r.target_port}"] == ["http:80->http:80"]
    error_message = "Without tls the load balancer forwards http:80 to http:80 and nothing else."
  }

  assert {
    condition     = digitalocean_loadbalancer.public.vpc_uuid == digitalocean_vpc.cluster.id && alltrue([for d in concat(digitalocean_droplet.web, digitalocean_droplet.db, digitalocean_droplet.dblb) : d.vpc_uuid == digitalocean_vpc.cluster.id])
    error_message = "Every droplet and the load balancer sit in the cluster's VPC."
  }
}

run "without_tls_there_is_no_certificate_no_443_rule_and_no_redirect" {
  command = plan

  assert {
    condition     = length(digitalocean_certificate.site) == 0 && length(digitalocean_record.site) == 0 && !digitalocean_loadbalancer.public.redirect_http_to_https
    error_message = "Without tls there is no certificate, no DNS record and no redirect to HTTPS."
  }

  assert {
    condition     = output.dns_record == "" && startswith(output.site_url, "http://")
    error_message = "Without tls the site is plain HTTP and up makes no DNS record."
  }
}

run "lets_encrypt_for_a_domain_in_digitalocean_dns_terminates_443_and_redirects_http" {
  command = plan

  variables {
    domain   = "shop.example.com"
    tls      = "lets_encrypt"
    dns_zone = "example.com"
  }

  assert {
    condition     = one(digitalocean_certificate.site).type == "lets_encrypt" && one(digitalocean_certificate.site).domains == toset(["shop.example.com"])
    error_message = "A Let's Encrypt certificate for exactly the site's domain."
  }

  assert {
    condition = toset([
      for r in digitalocean_loadbalancer.public.forwarding_rule : "${r.entry_protocol}:${r.entry_port}->${r.target_protocol}:${r.target_port}"
    ]) == toset(["http:80->http:80", "https:443->http:80"])
    error_message = "The load balancer terminates https:443 and forwards plain HTTP to port 80."
  }

  assert {
    condition     = one([for r in digitalocean_loadbalancer.public.forwarding_rule : r.certificate_name if r.entry_protocol == "https"]) == one(digitalocean_certificate.site).name
    error_message = "The 443 rule presents the site's certificate."
  }

  assert {
    condition     = digitalocean_loadbalancer.public.redirect_http_to_https
    error_message = "HTTP is redirected to HTTPS."
  }

  assert {
    condition     = digitalocean_loadbalancer.public.disable_lets_encrypt_dns_records
    error_message = "DigitalOcean must not add its own A record at the zone's apex: the site's record is digitalocean_record.site."
  }

  assert {
    condition     = one(digitalocean_record.site).domain == "example.com" && one(digitalocean_record.site).name == "shop" && one(digitalocean_record.site).type == "A" && one(digitalocean_record.site).value == digitalocean_loadbalancer.public.ip
    error_message = "The site's A record in its zone points at the load balancer."
  }

  assert {
    condition     = can(regex("^shop-[0-9a-f]{8}$", one(digitalocean_certificate.site).name))
    error_message = "The certificate's name is the project and a hash of what it certifies."
  }

  assert {
    condition     = output.site_url == "https://shop.example.com/"
    error_message = "With HTTPS the site's URL is https://<domain>/."
  }
}

run "a_custom_certificate_for_the_zone_apex" {
  command = plan

  variables {
    domain                = "example.com"
    tls                   = "custom"
    dns_zone              = "example.com"
    tls_certificate       = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    tls_certificate_chain = ""
    tls_private_key       = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
  }

  assert {
    condition     = one(digitalocean_certificate.site).type == "custom" && one(digitalocean_certificate.site).leaf_certificate == var.tls_certificate && one(digitalocean_certificate.site).certificate_chain == null
    error_message = "A custom certificate carries the leaf as given and no empty chain."
  }

  assert {
    condition     = one(digitalocean_record.site).name == "@"
    error_message = "The zone's apex is the record \"@\"."
  }
}

run "tls_needs_a_domain_and_a_matching_zone" {
  command = plan

  variables {
    domain          = ""
    tls             = "lets_encrypt"
    dns_zone        = "example.org"
    tls_certificate = "not a certificate"
    tls_private_key = "not a key"
  }

  expect_failures = [var.tls, var.dns_zone, var.tls_certificate, var.tls_private_key]
}

run "the_reserved_ip_starts_on_the_first_haproxy_node" {
  command = plan

  assert {
    condition     = digitalocean_reserved_ip.db.droplet_id == tonumber(digitalocean_droplet.dblb[0].id) && digitalocean_reserved_ip.db.region == var.region
    error_message = "The reserved IP starts on the first HAProxy node, in the cluster's region."
  }

  assert {
    condition     = contains(digitalocean_project.cluster.resources, "do:floatingip:${digitalocean_reserved_ip.db.ip_address}") && !contains(digitalocean_project.cluster.resources, digitalocean_reserved_ip.db.urn)
    error_message = "The project lists the reserved IP by the do:floatingip URN that DigitalOcean reports."
  }
}

run "outputs_have_the_shape_the_inventory_expects" {
  command = plan

  variables {
    web_count = 2
    db_count  = 5
  }

  assert {
    condition     = keys(output.inventory) == ["galera_cluster_node", "galera_loadbalancer", "wp_node"]
    error_message = "inventory has exactly the groups wp_node, galera_cluster_node and galera_loadbalancer."
  }

  assert {
    condition = (
      keys(output.inventory.wp_node) == ["shop-wp-01", "shop-wp-02"] &&
      keys(output.inventory.galera_cluster_node) == ["shop-db-01", "shop-db-02", "shop-db-03", "shop-db-04", "shop-db-05"] &&
      keys(output.inventory.galera_loadbalancer) == ["shop-dblb-01", "shop-dblb-02"]
    )
    error_message = "inventory maps each group to its droplets by name."
  }

  assert {
    condition = alltrue(flatten([
      for group in values(output.inventory) : [
        for host in values(group) : keys(host) == ["ansible_host", "private_ip"] && host.ansible_host == "203.0.113.10" && host.private_ip == "10.110.0.10"
      ]
    ]))
    error_message = "Every host is { ansible_host = public IPv4, private_ip = VPC IPv4 }."
  }

  assert {
    condition     = output.load_balancer_ip == "198.51.100.10" && output.db_reserved_ip == "192.0.2.10"
    error_message = "load_balancer_ip and db_reserved_ip are the load balancer's and the reserved IP's addresses."
  }
}

# Every validation rejects a bad value before anything is planned: each run
# fails unless every variable it lists rejects its value.

run "rejects_one_bad_value_per_variable" {
  command = plan

  variables {
    project              = "Shop"
    region               = "Frankfurt 1"
    image                = "Debian 12"
    admin_user           = "root"
    domain               = "my_shop.example.com"
    web_count            = 1
    db_count             = 4
    web_size             = "2 vCPU / 4 GB"
    db_size              = "s 2vcpu"
    lb_size              = "S-1VCPU-1GB"
    ssh_key_fingerprints = ["SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"]
    ssh_allow            = ["203.0.113.7/32", "office"]
    admin_ssh_keys       = ["-----BEGIN OPENSSH PRIVATE KEY-----"]
  }

  expect_failures = [
    var.project, var.region, var.image, var.admin_user, var.domain, var.web_count, var.db_count,
    var.web_size, var.db_size, var.lb_size, var.ssh_key_fingerprints, var.ssh_allow, var.admin_ssh_keys,
  ]
}

run "rejects_the_other_edge_cases" {
  command = plan

  variables {
    project              = "my--shop"
    region               = "fra1 "
    web_count            = 2.5
    db_count             = 11
    admin_user           = "Deploy"
    domain               = "shop.example.com-"
    ssh_allow            = []
    ssh_key_fingerprints = []
    admin_ssh_keys       = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKWv8pgsI/r58MP90m7n3pHvQDJGYECmd5FiS56MmC7m one\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKWv8pgsI/r58MP90m7n3pHvQDJGYECmd5FiS56MmC7m two"]
  }

  expect_failures = [
    var.project, var.region, var.web_count, var.db_count, var.admin_user, var.domain,
    var.ssh_allow, var.ssh_key_fingerprints, var.admin_ssh_keys,
  ]
}
