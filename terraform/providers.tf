# Deliberately empty: every credential and endpoint comes from the
# environment of the terraform process, never from a file in the workspace.
#   DIGITALOCEAN_TOKEN        API token (`ha-wordpress up` sets it for the child)
#   DIGITALOCEAN_API_URL      API endpoint, when not https://api.digitalocean.com
#                             (the tests point it at a fake API on 127.0.0.1)
# The buckets (backups and media) live in terraform/backup/, whose runs get
# the Spaces keys (SPACES_ACCESS_KEY_ID, SPACES_SECRET_ACCESS_KEY) the same way.
provider "digitalocean" {}
