#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Part of ha-wordpress. Why one module for many files: docs/architecture.md#up-speed.

DOCUMENTATION = r"""
---
module: hawp_files
short_description: Write many files and directories in one module run
description:
  - The remote half of the C(hawp_files) action, which renders the templates
    and reads the files on the controller and passes their content here.
  - Each entry is compared with what is on the node (bytes, owner, group,
    mode) and changed only when it differs; a file is written to a temporary
    file beside its destination, checked with its C(validate) command, and
    renamed into place, so a node never holds half a file or one that failed
    its check.
  - The tasks use the action (templates and role files by name), not this
    module directly.
options:
  files:
    description:
      - The entries, in order (a directory before the files in it).
      - C(path) the destination; C(state) C(file) (default), C(directory),
        C(link) (to C(target)), C(absent), or C(attributes) (an existing
        path's owner, group and mode only); C(content_b64) the file's bytes;
        C(owner), C(group), C(mode) (octal string); C(validate) a command
        with C(%s) for the file to check.
    type: list
    elements: dict
    required: true
author: ha-wordpress
"""

RETURN = r"""
changed_paths:
  description: The destinations that were (or, in check mode, would be) created or changed.
  type: list
  elements: str
  returned: always
"""

import base64
import grp
import os
import pwd
import shlex
import stat
import subprocess
import tempfile

from ansible.module_utils.basic import AnsibleModule


def _ids(entry):
    uid = pwd.getpwnam(entry['owner']).pw_uid if entry.get('owner') else -1
    gid = grp.getgrnam(entry['group']).gr_gid if entry.get('group') else -1
    mode = int(entry['mode'], 8) if entry.get('mode') else None
    return uid, gid, mode


def _attrs_differ(st, uid, gid, mode):
    return (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid) or (
        mode is not None and stat.S_IMODE(st.st_mode) != mode
    )


def _existing(module, path, is_kind, kind):
    """The path's lstat, None when it does not exist; fails when it is not of the kind wanted."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if is_kind is not None and not is_kind(st.st_mode):
        module.fail_json(msg='%s exists and is not a %s' % (path, kind))
    return st


def _set_attrs(path, uid, gid, mode):
    os.chown(path, uid, gid)
    if mode is not None:
        os.chmod(path, mode)


def _directory(module, entry):
    path = entry['path']
    uid, gid, mode = _ids(entry)
    st = _existing(module, path, stat.S_ISDIR, 'directory')
    if st is not None and not _attrs_differ(st, uid, gid, mode):
        return False
    if module.check_mode:
        return True
    if st is None:
        os.makedirs(path, mode=0o755 if mode is None else mode)
    _set_attrs(path, uid, gid, mode)
    return True


def _link(module, entry):
    path, target = entry['path'], entry['target']
    if os.path.islink(path) and os.readlink(path) == target:
        return False
    if os.path.lexists(path) and not os.path.islink(path):
        module.fail_json(msg='%s exists and is not a link' % path)
    if module.check_mode:
        return True
    tmp = os.path.join(os.path.dirname(path), '.hawp-link-' + os.path.basename(path))
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.rename(tmp, path)
    return True


def _absent(module, entry):
    path = entry['path']
    if not os.path.lexists(path):
        return False
    if os.path.isdir(path) and not os.path.islink(path):
        module.fail_json(msg='%s is a directory: not removed' % path)
    if not module.check_mode:
        os.unlink(path)
    return True


def _attributes(module, entry):
    path = entry['path']
    uid, gid, mode = _ids(entry)
    st = _existing(module, path, None, '')
    if st is None:
        module.fail_json(msg='%s does not exist' % path)
    if not _attrs_differ(st, uid, gid, mode):
        return False
    if not module.check_mode:
        _set_attrs(path, uid, gid, mode)
    return True


def _file(module, entry):
    path = entry['path']
    data = base64.b64decode(entry['content_b64'])
    uid, gid, mode = _ids(entry)
    st = _existing(module, path, stat.S_ISREG, 'regular file')
    same_bytes = False
    if st is not None and st.st_size == len(data):
        with open(path, 'rb') as f:
            same_bytes = f.read() == data
    if same_bytes and not _attrs_differ(st, uid, gid, mode):
        return False
    if module.check_mode:
        return True
    if same_bytes:
        _set_attrs(path, uid, gid, mode)
        return True
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        module.fail_json(msg='cannot write %s: its directory %s does not exist' % (path, parent))
    # The new file starts private and gets its owner and mode before it has
    # its content's name: a secret is never readable by anyone else, even
    # for a moment.
    fd, tmp = tempfile.mkstemp(prefix='.hawp-', dir=parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        if st is not None:
            keep_uid, keep_gid, keep_mode = st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)
        else:
            keep_uid, keep_gid, keep_mode = 0, 0, 0o644
        os.chown(tmp, keep_uid if uid == -1 else uid, keep_gid if gid == -1 else gid)
        os.chmod(tmp, keep_mode if mode is None else mode)
        if entry.get('validate'):
            argv = [a.replace('%s', tmp) for a in shlex.split(entry['validate'])]
            run = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
            if run.returncode != 0:
                out = run.stdout.decode('utf-8', 'replace').replace(tmp, path).strip()
                module.fail_json(msg='%s failed its check (%s), left as it was: %s' % (path, entry['validate'].split()[0], out[-2000:]))
        os.rename(tmp, path)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return True


def main():
    module = AnsibleModule(
        # Not no_log here: Ansible would then mask every path, mode and owner
        # name in the result. A task whose files hold secrets says no_log
        # itself, and the action never returns the module's arguments.
        argument_spec=dict(files=dict(type='list', elements='dict', required=True)),
        supports_check_mode=True,
    )
    changed = []
    apply = {'file': _file, 'directory': _directory, 'link': _link, 'absent': _absent, 'attributes': _attributes}
    for entry in module.params['files']:
        state = entry.get('state', 'file')
        if state not in apply:
            module.fail_json(msg='%s: unknown state %s' % (entry.get('path'), state))
        did = apply[state](module, entry)
        if did:
            changed.append(entry['path'])
    module.exit_json(changed=bool(changed), changed_paths=changed)


if __name__ == '__main__':
    main()
