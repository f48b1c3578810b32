resource "digitalocean_spaces_bucket" "backup" {
  name   = var.backup_bucket
  region = var.backup_region
  acl    = "private"

  # A bucket that holds backups is never emptied by terraform.
  force_destroy = false

  # restic prunes with deletes, and the nodes' key may delete: with
  # versioning a deleted or overwritten pack stays as a noncurrent version
  # (an operator mistake, a rogue prune, or a compromised node deleting what
  # it lists can be undone) until the rule below expires it.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    id                                     = "backup-versions"
    enabled                                = true
    abort_incomplete_multipart_upload_days = 7

    noncurrent_version_expiration {
      days = var.backup_keep_deleted_days
    }
  }

  # A hand-run `terraform destroy` here, or a change of name or region
  # (which would replace the bucket), stops instead of deleting backups.
  lifecycle {
    prevent_destroy = true
  }
}
