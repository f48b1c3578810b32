variable "backup_bucket" {
  description = "Name of the backup bucket: unique across DigitalOcean, made once by ha-wordpress init."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.backup_bucket)) && !strcontains(var.backup_bucket, "--")
    error_message = "backup_bucket: use 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit."
  }
}

variable "backup_region" {
  description = "Spaces region of the bucket; by default another than the cluster's."
  type        = string

  validation {
    condition     = contains(["ams3", "atl1", "blr1", "fra1", "lon1", "nyc3", "sfo2", "sfo3", "sgp1", "syd1", "tor1"], var.backup_region)
    error_message = "backup_region: use a region with Spaces: ams3 atl1 blr1 fra1 lon1 nyc3 sfo2 sfo3 sgp1 syd1 tor1."
  }
}

variable "backup_keep_deleted_days" {
  description = "Days a deleted or overwritten object stays recoverable (a noncurrent version) before the bucket expires it."
  type        = number
  default     = 30

  validation {
    condition     = var.backup_keep_deleted_days >= 1 && var.backup_keep_deleted_days == floor(var.backup_keep_deleted_days)
    error_message = "backup_keep_deleted_days: give a whole number of days, at least 1."
  }
}

variable "media_bucket" {
  description = "Name of the media bucket (WordPress's uploads): unique across DigitalOcean, made once by ha-wordpress init."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.media_bucket)) && !strcontains(var.media_bucket, "--")
    error_message = "media_bucket: use 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit."
  }
}

variable "media_region" {
  description = "Spaces region of the media bucket: the cluster's, or the nearest with Spaces."
  type        = string

  validation {
    condition     = contains(["ams3", "atl1", "blr1", "fra1", "lon1", "nyc3", "sfo2", "sfo3", "sgp1", "syd1", "tor1"], var.media_region)
    error_message = "media_region: use a region with Spaces: ams3 atl1 blr1 fra1 lon1 nyc3 sfo2 sfo3 sgp1 syd1 tor1."
  }
}

variable "media_cdn" {
  description = "Serve the media through DigitalOcean's CDN endpoint of the bucket."
  type        = bool
  default     = false
}
