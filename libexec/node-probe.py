# What `ha-wordpress status` asks each node. Sent over SSH on stdin and run
# with `sudo -n python3 - <group>` (python3 is on every node: Ansible needs
# it), so nothing is installed on the nodes and no secret is involved. Prints
# one JSON object.
import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request

def haproxy(command):
    """One command on HAProxy's admin socket; its whole answer."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(3)
    s.connect('/run/haproxy/admin.sock')
    s.sendall(command.encode() + b'\n')
    data = b''
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data.decode()


group = sys.argv[1] if len(sys.argv) > 1 else ''
out = {'services': {}}


def active(*units):
    for unit in units:
        r = subprocess.run(['systemctl', 'is-active', unit], capture_output=True, text=True)
        out['services'][unit] = r.stdout.strip() or 'unknown'


def http(url):
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status, r.read().decode('utf-8', 'replace')
    except urllib.error.HTTPError as e:
        return e.code, ''
    except Exception:
        return 0, ''


if group == 'wp_node':
    active('nginx', 'php8.2-fpm')
    out['healthz'] = http('http://127.0.0.1/healthz')[0]
elif group == 'galera_cluster_node':
    active('mariadb', 'galera-health', 'ha-wordpress-backup.timer')
    names = "'wsrep_cluster_size','wsrep_local_state_comment','wsrep_cluster_status','wsrep_ready'"
    try:
        r = subprocess.run(['mariadb', '-N', '-B', '-e', 'SHOW GLOBAL STATUS WHERE Variable_name IN (%s)' % names],
                           capture_output=True, text=True, timeout=5)
        out['galera'] = dict(line.split('\t', 1) for line in r.stdout.splitlines() if '\t' in line)
    except Exception:
        out['galera'] = {}
    # A backup running here desyncs this node on purpose. Its program writes
    # its pid into the lock file it holds (ha-wordpress-backup's State.lock);
    # the lock itself is not tried: that could make a starting backup fail.
    out['backup_running'] = False
    try:
        with open('/var/lib/ha-wordpress-backup/lock', encoding='ascii') as f:
            pid = f.read().strip()
        if pid.isdigit():
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                out['backup_running'] = b'ha-wordpress-backup' in f.read()
    except OSError:
        pass
    # This node's last backup and verification, written by ha-wordpress-backup
    # (root-only; the probe runs under sudo). null: none ran here yet.
    try:
        with open('/var/lib/ha-wordpress-backup/state.json', encoding='utf-8') as f:
            state = json.load(f)
        out['backup'] = {'last_backup': state.get('last_backup'), 'last_verify': state.get('last_verify')}
    except (OSError, ValueError):
        out['backup'] = None
elif group == 'galera_loadbalancer':
    active('haproxy', 'keepalived')
    code, body = http('http://169.254.169.254/metadata/v1/reserved_ip/ipv4/active')
    out['reserved_ip_active'] = code == 200 and body.strip() == 'true'
    backends = []
    try:
        for line in haproxy('show stat').splitlines():
            f = line.split(',')
            if line.startswith('#') or len(f) < 18 or f[1] in ('FRONTEND', 'BACKEND') or f[0] == 'stats':
                continue
            backends.append({'proxy': f[0], 'server': f[1], 'status': f[17]})
    except Exception:
        pass
    out['backends'] = backends
    # The Galera node this HAProxy sends the writes to: the one entry of its
    # writer table (haproxy.cfg, "one writer that stays"), by server name.
    # None: no connection chose one yet, or the table is off.
    try:
        m = re.search(r'\bserver_key=(\S+)', haproxy('show table galera'))
        out['writer'] = m.group(1) if m else None
    except Exception:
        out['writer'] = None

# The configuration fingerprint up's playbook recorded here after its last
# complete run (site.yml's last play; root only). None: never, or a run
# stopped before it finished.
try:
    with open('/var/lib/ha-wordpress-converged', encoding='utf-8') as f:
        out['converged'] = f.read().strip() or None
except OSError:
    out['converged'] = None

# A package installed here (a kernel, libc, ...) takes effect only after a
# reboot: Debian's packages and unattended-upgrades' kernel hook write these
# files. Security updates are installed daily, reboots stay manual.
try:
    with open('/run/reboot-required.pkgs', encoding='utf-8') as f:
        pkgs = sorted({line.strip() for line in f if line.strip()})
except OSError:
    pkgs = []
if pkgs or os.path.exists('/run/reboot-required'):
    out['reboot_required'] = pkgs

# Updates waiting for `ha-wordpress upgrade`: the file the common role's
# pending-updates writes after each apt run (docs/operations.md#upgrade).
try:
    with open('/var/lib/ha-wordpress/pending-updates.json', encoding='utf-8') as f:
        pending = json.load(f)
    names = [p['name'] for p in pending.get('packages', [])]
    if names:
        out['pending_updates'] = {
            'packages': names,
            'security': [p['name'] for p in pending['packages'] if p.get('security')],
            'checked': pending.get('checked'),
        }
except (OSError, ValueError, KeyError, TypeError):
    pass

print(json.dumps(out))
