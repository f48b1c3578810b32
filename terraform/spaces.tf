# The media bucket for WordPress uploads, only when media offload is on.
resource "digitalocean_spaces_bucket" "media" {
  count = var.spaces_bucket == "" ? 0 : 1

  name   = var.spaces_bucket
  region = var.region
  acl    = "private"

  # Destroying the cluster must never delete a business's media. With this
  # off, destroy stops with the provider's error while the bucket holds
  # objects; the user empties it on purpose and runs destroy again.
  force_destroy = false
}
