# The backup bucket, in a root module of its own with its own state:
# `ha-wordpress up` applies it before the cluster's root (terraform/), and
# `ha-wordpress destroy` never runs terraform here, so the backups outlive
# the cluster. docs/backups.md explains the bucket's life.
terraform {
  required_version = ">= 1.5"

  required_providers {
    digitalocean = {
      source  = "digitalocean/digitalocean"
      version = "~> 2.68"
    }
  }
}

# Every credential comes from the environment `ha-wordpress up` gives
# terraform, never from a file in the workspace:
#   SPACES_ACCESS_KEY_ID      a full-access Spaces key: the provider reads the
#   SPACES_SECRET_ACCESS_KEY  bucket's versioning and lifecycle on every plan
#   DIGITALOCEAN_TOKEN        the API token (the provider wants one)
provider "digitalocean" {}
