# Plan-time checks of the backup bucket with a mocked DigitalOcean provider
# (the real provider's schema, no API): `terraform test` in terraform/backup/.

mock_provider "digitalocean" {}

variables {
  backup_bucket = "shop-backups-a1b2c3"
  backup_region = "ams3"
  media_bucket  = "shop-media-d4e5f6"
  media_region  = "fra1"
}

run "bucket_is_private_versioned_and_expires_old_versions" {
  command = plan

  assert {
    condition     = digitalocean_spaces_bucket.backup.name == "shop-backups-a1b2c3" && digitalocean_spaces_bucket.backup.region == "ams3"
    error_message = "the bucket must take its name and region from the variables"
  }
  assert {
    condition     = digitalocean_spaces_bucket.backup.acl == "private" && digitalocean_spaces_bucket.backup.force_destroy == false
    error_message = "the backup bucket must be private and never force-destroyed"
  }
  assert {
    condition     = digitalocean_spaces_bucket.backup.versioning[0].enabled == true
    error_message = "versioning must be on: a deleted backup must stay recoverable"
  }
  assert {
    condition = (
      digitalocean_spaces_bucket.backup.lifecycle_rule[0].enabled == true &&
      one(digitalocean_spaces_bucket.backup.lifecycle_rule[0].noncurrent_version_expiration).days == 30 &&
      digitalocean_spaces_bucket.backup.lifecycle_rule[0].abort_incomplete_multipart_upload_days == 7
    )
    error_message = "the lifecycle rule must expire noncurrent versions after 30 days and abort stale multipart uploads"
  }
  assert {
    condition     = output.backup_endpoint == "https://ams3.digitaloceanspaces.com"
    error_message = "the endpoint must be the bucket region's Spaces endpoint"
  }
}

run "keep_deleted_days_is_a_variable" {
  command = plan

  variables {
    backup_keep_deleted_days = 90
  }

  assert {
    condition     = one(digitalocean_spaces_bucket.backup.lifecycle_rule[0].noncurrent_version_expiration).days == 90
    error_message = "backup_keep_deleted_days must reach the lifecycle rule"
  }
}

run "refuses_a_region_without_spaces" {
  command = plan

  variables {
    backup_region = "nyc1"
  }

  expect_failures = [var.backup_region]
}

run "refuses_a_bad_bucket_name" {
  command = plan

  variables {
    backup_bucket = "Shop_Backups"
  }

  expect_failures = [var.backup_bucket]
}

run "refuses_zero_days" {
  command = plan

  variables {
    backup_keep_deleted_days = 0
  }

  expect_failures = [var.backup_keep_deleted_days]
}

run "media_bucket_is_private_kept_and_served_from_its_own_domain" {
  command = plan

  assert {
    condition     = digitalocean_spaces_bucket.media.name == "shop-media-d4e5f6" && digitalocean_spaces_bucket.media.region == "fra1"
    error_message = "the media bucket must take its name and region from the variables"
  }
  assert {
    condition     = digitalocean_spaces_bucket.media.acl == "private" && digitalocean_spaces_bucket.media.force_destroy == false
    error_message = "the media bucket must not be listable and never force-destroyed"
  }
  assert {
    condition     = length(digitalocean_cdn.media) == 0
    error_message = "no CDN unless media_cdn asks for one"
  }
}

run "media_cdn_puts_the_cdn_in_front_of_the_bucket" {
  command = plan

  variables {
    media_cdn = true
  }

  assert {
    condition     = length(digitalocean_cdn.media) == 1
    error_message = "media_cdn must create the CDN endpoint"
  }
}

run "refuses_a_bad_media_bucket_and_region" {
  command = plan

  variables {
    media_bucket = "Shop_Media"
    media_region = "nyc1"
  }

  expect_failures = [var.media_bucket, var.media_region]
}
