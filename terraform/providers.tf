# Deliberately empty: every credential and endpoint comes from the
# environment of the terraform process, never from a file in the workspace.
#   DIGITALOCEAN_TOKEN        API token (`ha-wordpress up` sets it for the child)
#   DIGITALOCEAN_API_URL      API endpoint, when not https://api.digitalocean.com
#                             (the tests point it at a fake API on 127.0.0.1)
#   SPACES_ACCESS_KEY_ID      Spaces access key and secret, needed only when
#   SPACES_SECRET_ACCESS_KEY  spaces_bucket is set and the bucket is managed here
provider "digitalocean" {}
