output "backup_bucket" {
  value = digitalocean_spaces_bucket.backup.name
}

output "backup_region" {
  value = digitalocean_spaces_bucket.backup.region
}

output "backup_endpoint" {
  description = "The S3 endpoint restic talks to."
  value       = "https://${digitalocean_spaces_bucket.backup.region}.digitaloceanspaces.com"
}

output "media_bucket" {
  value = digitalocean_spaces_bucket.media.name
}

output "media_url" {
  description = "Where the site's uploads are fetched from."
  value       = var.media_cdn ? "https://${digitalocean_cdn.media[0].endpoint}" : "https://${digitalocean_spaces_bucket.media.bucket_domain_name}"
}
