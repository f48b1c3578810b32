terraform {
  required_version = ">= 1.5"

  required_providers {
    digitalocean = {
      source = "digitalocean/digitalocean"
      # Reserved IPs need >= 2.21 and the load balancer's size_unit >= 2.16;
      # .terraform.lock.hcl pins the exact release that was checked.
      version = "~> 2.68"
    }
  }
}
