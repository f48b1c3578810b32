# Inputs of the cluster. `ha-wordpress init` writes terraform.tfvars from its
# settings; every validation here mirrors the CLI's own check (src/validation/
# rules.ts), so a hand-edited tfvars gets the same message the CLI would give.

variable "project" {
  type        = string
  description = "Project name: prefix of droplet names, tags and the load balancer name."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.project)) && length(var.project) >= 2 && length(var.project) <= 40 && !strcontains(var.project, "--")
    error_message = "project: use 2 to 40 lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen, without \"--\"."
  }
}

variable "region" {
  type        = string
  description = "DigitalOcean region slug, e.g. fra1."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]*$", var.region))
    error_message = "region: use a DigitalOcean region slug such as fra1."
  }
}

variable "image" {
  type        = string
  description = "Droplet image slug; the Ansible roles target Debian 12."
  default     = "debian-12-x64"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]*$", var.image)) && length(var.image) <= 64
    error_message = "image: use an image slug such as debian-12-x64."
  }
}

variable "admin_user" {
  type        = string
  description = "Linux admin user that cloud-init creates on every droplet with the project's SSH key."
  default     = "deploy"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{1,31}$", var.admin_user)) && var.admin_user != "root"
    error_message = "admin_user: use 2-32 lowercase letters, digits, \"_\" and \"-\", starting with a letter or \"_\", and not root."
  }
}

variable "domain" {
  type        = string
  description = "Domain the site answers on; empty to use the load balancer's IP address."
  default     = ""

  validation {
    condition     = var.domain == "" || (length(var.domain) <= 253 && can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?\\.?$", lower(var.domain))))
    error_message = "domain: give a full domain name such as www.example.com, or an empty string."
  }
}

variable "web_count" {
  type        = number
  description = "Number of WordPress droplets."
  default     = 3

  validation {
    condition     = var.web_count >= 2 && var.web_count <= 10 && floor(var.web_count) == var.web_count
    error_message = "web_count: give a whole number from 2 to 10."
  }
}

variable "db_count" {
  type        = number
  description = "Number of MariaDB Galera droplets; odd so the cluster keeps a majority after a failure."
  default     = 3

  validation {
    condition     = var.db_count >= 3 && var.db_count <= 9 && var.db_count % 2 == 1
    error_message = "db_count: use an odd number from 3 to 9 so the cluster keeps a majority after a node failure."
  }
}

variable "web_size" {
  type        = string
  description = "Droplet size slug of the WordPress nodes."
  default     = "s-1vcpu-2gb"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]*$", var.web_size))
    error_message = "web_size: use a DigitalOcean size slug such as s-2vcpu-4gb."
  }
}

variable "db_size" {
  type        = string
  description = "Droplet size slug of the Galera nodes."
  default     = "s-2vcpu-4gb"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]*$", var.db_size))
    error_message = "db_size: use a DigitalOcean size slug such as s-2vcpu-4gb."
  }
}

variable "lb_size" {
  type        = string
  description = "Droplet size slug of the two HAProxy nodes."
  default     = "s-1vcpu-1gb"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]*$", var.lb_size))
    error_message = "lb_size: use a DigitalOcean size slug such as s-1vcpu-1gb."
  }
}

variable "ssh_key_fingerprints" {
  type        = list(string)
  description = "MD5 fingerprints of the SSH keys (already on the account) installed for the admin user."

  validation {
    condition     = length(var.ssh_key_fingerprints) > 0 && alltrue([for f in var.ssh_key_fingerprints : can(regex("^([0-9a-f]{2}:){15}[0-9a-f]{2}$", f))])
    error_message = "ssh_key_fingerprints: give at least one MD5 fingerprint such as 3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa."
  }
}

variable "ssh_allow" {
  type        = list(string)
  description = "Addresses or CIDR blocks allowed to reach SSH on the droplets."
  default     = ["0.0.0.0/0", "::/0"]

  validation {
    condition     = length(var.ssh_allow) > 0 && alltrue([for c in var.ssh_allow : can(cidrhost(strcontains(c, "/") ? c : (strcontains(c, ":") ? "${c}/128" : "${c}/32"), 0))])
    error_message = "ssh_allow: give IPv4/IPv6 addresses or CIDR blocks such as 203.0.113.7/32."
  }
}

variable "admin_ssh_keys" {
  type        = list(string)
  description = "OpenSSH public key lines that cloud-init authorizes for the admin user at first boot."

  validation {
    condition     = length(var.admin_ssh_keys) > 0 && alltrue([for k in var.admin_ssh_keys : can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\\.com|sk-ecdsa-sha2-nistp256@openssh\\.com) [A-Za-z0-9+/]+={0,2}( [^\\r\\n]*)?$", k))])
    error_message = "admin_ssh_keys: give at least one OpenSSH public key line such as \"ssh-ed25519 AAAAC3Nza... user@host\" (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521 or sk-*@openssh.com), one key per entry."
  }
}

variable "tls" {
  type        = string
  description = "HTTPS at the load balancer: \"none\" (HTTP only), \"lets_encrypt\" (a certificate DigitalOcean obtains and renews; the domain must be in DigitalOcean DNS) or \"custom\" (tls_certificate and tls_certificate_chain, the key from TF_VAR_tls_private_key)."
  default     = "none"

  validation {
    condition     = contains(["none", "lets_encrypt", "custom"], var.tls) && (var.tls == "none" || var.domain != "")
    error_message = "tls: use none, lets_encrypt or custom; the last two need a domain."
  }
}

variable "dns_zone" {
  type        = string
  description = "The DigitalOcean DNS domain (zone) that holds the site's name: its A record is made there, pointing at the load balancer. Empty when the domain's DNS is elsewhere."
  default     = ""

  validation {
    condition     = var.dns_zone == "" || (var.domain != "" && (trimsuffix(lower(var.domain), ".") == lower(var.dns_zone) || endswith(trimsuffix(lower(var.domain), "."), ".${lower(var.dns_zone)}")))
    error_message = "dns_zone: give the DigitalOcean DNS domain the site's domain belongs to (example.com for shop.example.com), or an empty string."
  }
}

variable "tls_certificate" {
  type        = string
  description = "The custom certificate (PEM) the load balancer presents; init writes it here from --tls-certificate. Public, like the chain."
  default     = ""

  validation {
    condition     = var.tls_certificate == "" || strcontains(var.tls_certificate, "-----BEGIN CERTIFICATE-----")
    error_message = "tls_certificate: give a PEM certificate."
  }
}

variable "tls_certificate_chain" {
  type        = string
  description = "The custom certificate's chain (PEM), from the issuer up; may be empty."
  default     = ""

  validation {
    condition     = var.tls_certificate_chain == "" || strcontains(var.tls_certificate_chain, "-----BEGIN CERTIFICATE-----")
    error_message = "tls_certificate_chain: give PEM certificates, or an empty string."
  }
}

variable "tls_private_key" {
  type        = string
  description = "The custom certificate's private key (PEM). `ha-wordpress up` sets it from the vault as TF_VAR_tls_private_key; never in a file."
  default     = ""
  sensitive   = true

  validation {
    condition     = var.tls_private_key == "" || strcontains(var.tls_private_key, "PRIVATE KEY-----")
    error_message = "tls_private_key: give a PEM private key."
  }
}
