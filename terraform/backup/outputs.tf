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
