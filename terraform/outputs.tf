# Read by `ha-wordpress up` (terraform output -json), which writes the Ansible
# inventory from `inventory`. Nothing here is secret.

output "inventory" {
  description = "Ansible hosts by group (wp_node, galera_cluster_node, galera_loadbalancer): droplet name => { ansible_host = public IPv4, private_ip = VPC IPv4 }."
  value = {
    wp_node = {
      for d in digitalocean_droplet.web : d.name => {
        ansible_host = d.ipv4_address
        private_ip   = d.ipv4_address_private
      }
    }
    galera_cluster_node = {
      for d in digitalocean_droplet.db : d.name => {
        ansible_host = d.ipv4_address
        private_ip   = d.ipv4_address_private
      }
    }
    galera_loadbalancer = {
      for d in digitalocean_droplet.dblb : d.name => {
        ansible_host = d.ipv4_address
        private_ip   = d.ipv4_address_private
      }
    }
  }
}

output "load_balancer_ip" {
  description = "Public IPv4 address of the load balancer: where the site answers, and where the domain's DNS record should point."
  value       = digitalocean_loadbalancer.public.ip
}

output "db_reserved_ip" {
  description = "Reserved IPv4 address the active HAProxy node holds: the database address WordPress connects to."
  value       = digitalocean_reserved_ip.db.ip_address
}

output "site_url" {
  description = "Where the site answers: https://<domain>/ with HTTPS, http://<domain>/ without, http://<load balancer IP>/ with no domain."
  value       = "${local.https ? "https" : "http"}://${local.domain != "" ? local.domain : digitalocean_loadbalancer.public.ip}/"
}

output "dns_record" {
  description = "The A record made for the site in DigitalOcean DNS (its fully qualified name), or \"\" when the domain's DNS is elsewhere and the user points it at load_balancer_ip."
  value       = length(digitalocean_record.site) > 0 ? digitalocean_record.site[0].fqdn : ""
}
