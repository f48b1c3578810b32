# The media bucket: every upload of the site, which every web node serves
# from here (docs/cluster.md#uploads-on-every-node). It lives in this root
# with the backup bucket because it is data, not infrastructure: `destroy`
# never runs here, so deleting the cluster keeps the uploads.
resource "digitalocean_spaces_bucket" "media" {
  name   = var.media_bucket
  region = var.media_region
  # The bucket is not listable; each object is public-read (the web nodes'
  # plugin uploads it so), which is what a page's <img> needs.
  acl = "private"

  force_destroy = false

  lifecycle {
    prevent_destroy = true
  }
}

# DigitalOcean's CDN in front of the bucket (--media-cdn): the uploads'
# URLs are <bucket>.<region>.cdn.digitaloceanspaces.com instead.
resource "digitalocean_cdn" "media" {
  count  = var.media_cdn ? 1 : 0
  origin = digitalocean_spaces_bucket.media.bucket_domain_name
  # A year, as the objects say (Cache-Control); a replaced upload gets a new name.
  ttl = 604800
}
