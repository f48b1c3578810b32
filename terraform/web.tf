# The WordPress tier: nginx + PHP-FPM, configured by the wordpress Ansible
# role. The public load balancer finds these droplets by their tier tag.
resource "digitalocean_droplet" "web" {
  count = var.web_count

  name              = format("%s-wp-%02d", var.project, count.index + 1)
  region            = var.region
  size              = var.web_size
  image             = var.image
  vpc_uuid          = digitalocean_vpc.cluster.id
  ssh_keys          = var.ssh_key_fingerprints
  monitoring        = true
  ipv6              = false
  graceful_shutdown = true
  tags              = [digitalocean_tag.project.id, digitalocean_tag.web.id]
  user_data         = local.user_data

  lifecycle {
    # A change to any of these forces a new droplet. They only matter at
    # first boot, and Ansible manages users and keys after it, so a new tool
    # version (a different cloud-init template), a rotated key or a newer
    # image must never silently replace production servers. Replacing a node
    # stays a deliberate act: terraform apply -replace=...
    ignore_changes = [user_data, ssh_keys, image]
  }
}
