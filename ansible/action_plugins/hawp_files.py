# -*- coding: utf-8 -*-
# Part of ha-wordpress: the controller half of `hawp_files` (ansible/library/hawp_files.py).
#
# One task, one module run per host, for a group of files that belong
# together (usually: everything one handler reloads). A `template` task costs
# a module run to compare and, when the file changed, a transfer and a second
# run; on a 2-core machine each run is most of a second of CPU. The roles had
# ~60 of them. Why and what it saved: docs/architecture.md#up-speed.
#
# Task arguments:
#   files: a list of entries, written in order, each one of
#     - template: NAME   rendered like ansible.builtin.template (the role's templates/)
#     - src: NAME        a file of the role's files/, as it is
#     - content: TEXT    the text itself
#     - directory: PATH  a directory (made with its parents when missing)
#     - link: TARGET     a symbolic link at dest pointing at TARGET
#     - absent: PATH     no file or link there
#     - attributes: PATH an existing path's owner, group and mode only
#   with dest: PATH (for template, src, content and link), and optionally owner, group,
#   mode (an octal string), validate (a command with %s, as in
#   ansible.builtin.template) and when (false leaves the entry out).
from __future__ import annotations

import base64
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase
from ansible.template import AnsibleEnvironment, generate_ansible_template_vars

_KINDS = ('template', 'src', 'content', 'directory', 'link', 'absent', 'attributes')
_PASSED = ('owner', 'group', 'mode', 'validate')


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('files',))

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        entries = self._task.args.get('files')
        if not isinstance(entries, list):
            raise AnsibleActionFail('hawp_files: files must be a list of entries')
        files = []
        for entry in entries:
            spec = self._entry(entry, task_vars)
            if spec is not None:
                files.append(spec)
        if not files:
            result.update(changed=False, changed_paths=[], skipped_reason='no entry applies to this host')
            return result
        run = self._execute_module(module_name='hawp_files', module_args={'files': files}, task_vars=task_vars)
        # The module's arguments hold the files' content: never part of the result.
        run.pop('invocation', None)
        result.update(run)
        return result

    def _entry(self, entry, task_vars):
        if not isinstance(entry, dict):
            raise AnsibleActionFail('hawp_files: every entry is a mapping, not %r' % (entry,))
        kinds = [k for k in _KINDS if k in entry]
        if len(kinds) != 1:
            raise AnsibleActionFail('hawp_files: an entry needs exactly one of %s: %r' % (', '.join(_KINDS), sorted(entry)))
        kind = kinds[0]
        unknown = set(entry) - set(_KINDS) - set(_PASSED) - {'dest', 'when'}
        if unknown:
            raise AnsibleActionFail('hawp_files: unknown keys %s in the entry for %s' % (sorted(unknown), entry.get('dest') or entry[kind]))
        when = entry.get('when', True)
        if isinstance(when, str):
            when = when.strip().lower() in ('true', 'yes', '1')
        if not when:
            return None
        spec = {k: to_text(entry[k]) for k in _PASSED if entry.get(k) not in (None, '')}
        if kind in ('directory', 'absent', 'attributes'):
            spec.update(path=to_text(entry[kind]), state=kind)
            return spec
        dest = entry.get('dest')
        if not dest:
            raise AnsibleActionFail('hawp_files: the entry for %s %s has no dest' % (kind, entry[kind]))
        if kind == 'link':
            spec.update(path=to_text(dest), state='link', target=to_text(entry['link']))
            return spec
        if kind == 'content':
            data = to_bytes(entry['content'], errors='surrogate_or_strict')
        elif kind == 'src':
            data = self._read(self._find_needle('files', entry['src']))
        else:
            data = self._render(entry['template'], dest, task_vars)
        spec.update(path=to_text(dest), state='file', content_b64=to_text(base64.b64encode(data)))
        return spec

    def _read(self, source):
        real = self._loader.get_real_file(source)
        try:
            with open(to_bytes(real, errors='surrogate_or_strict'), 'rb') as f:
                return f.read()
        finally:
            self._loader.cleanup_tmp_file(real)

    def _render(self, name, dest, task_vars):
        """As ansible.builtin.template renders (same search path, same template variables)."""
        source = self._find_needle('templates', name)
        try:
            text = to_text(self._read(source), errors='surrogate_or_strict')
        except UnicodeError:
            raise AnsibleActionFail('Template source files must be utf-8 encoded: %s' % name)
        searchpath = list(task_vars.get('ansible_search_path', [])) + [self._loader._basedir, os.path.dirname(source)]
        searchpath = [q for p in searchpath for q in (os.path.join(p, 'templates'), p)]
        variables = task_vars.copy()
        variables.update(generate_ansible_template_vars(name, source, dest))
        # The template action's defaults: trim_blocks on, lstrip_blocks off, "\n".
        templar = self._templar.copy_with_new_env(
            environment_class=AnsibleEnvironment,
            searchpath=searchpath,
            newline_sequence='\n',
            trim_blocks=True,
            lstrip_blocks=False,
            available_variables=variables,
        )
        try:
            rendered = templar.do_template(text, preserve_trailing_newlines=True, escape_backslashes=False)
        except Exception as e:  # as the template action: any rendering error fails the task, named
            raise AnsibleActionFail('%s: %s: %s' % (name, type(e).__name__, to_text(e)))
        return to_bytes(rendered, errors='surrogate_or_strict')
