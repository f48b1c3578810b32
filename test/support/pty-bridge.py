#!/usr/bin/env python3
"""Run a command inside a real pseudo-terminal and relay bytes to/from Node.

Usage: python3 pty-bridge.py [--cols N] [--rows N] -- command [args...]

Channels (as set up by test/support/pty.ts):
  fd 0  bytes to type into the terminal (keyboard side)
  fd 1  everything the program writes to the terminal (raw, with ANSI codes)
  fd 2  diagnostics of the bridge itself
  fd 3  optional: one JSON line with the child's exit status, written just
        before the bridge exits: {"code": int|null, "signal": "SIGxxx"|null,
        "error": str|null}

Behaviour:
  * The child runs in its own session with the pty slave as its controlling
    terminal on stdin/stdout/stderr, so isatty() is true for all three.
  * EOF on fd 0 only stops relaying input: the child keeps running (closing the
    master would hang the terminal up and kill the child with SIGHUP).
  * After the child exits, the remaining terminal output is drained before the
    bridge exits.
  * SIGTERM/SIGINT/SIGHUP received by the bridge are forwarded to the child's
    process group; if the child is still alive 1.5 s later it gets SIGKILL.
  * If the parent (Node) dies, the child's process group is killed as well.
  * Exit code: the child's exit code, or 128+signal if it was killed.
"""

import errno
import fcntl
import json
import os
import select
import signal
import struct
import sys
import termios
import time
import pty

KILL_GRACE_S = 1.5
DRAIN_IDLE_S = 0.2  # after child exit, stop draining after this long without output
DRAIN_MAX_S = 3.0  # ... or after this long in total (a grandchild holds the pty open)


def parse_args(argv):
    cols, rows = 120, 40
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if a == "--cols":
            cols = int(argv[i + 1])
            i += 2
        elif a == "--rows":
            rows = int(argv[i + 1])
            i += 2
        else:
            break
    cmd = argv[i:]
    if not cmd:
        sys.stderr.write("pty-bridge: no command given\n")
        sys.exit(2)
    return cols, rows, cmd


def write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
            continue
        view = view[n:]


def main():
    cols, rows, cmd = parse_args(sys.argv[1:])
    orig_ppid = os.getppid()

    status_fd = 3
    try:
        os.fstat(status_fd)
    except OSError:
        status_fd = None
    if status_fd is not None:
        os.set_inheritable(status_fd, False)

    # Pipe used to report exec() failures from the forked child (closed on exec).
    err_r, err_w = os.pipe()

    pid, master = pty.fork()
    if pid == 0:  # --- child ---
        try:
            os.close(err_r)
            fcntl.fcntl(err_w, fcntl.F_SETFD, fcntl.FD_CLOEXEC)
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGCHLD):
                signal.signal(s, signal.SIG_DFL)
            os.execvp(cmd[0], cmd)
        except BaseException as e:  # noqa: BLE001 - report anything
            try:
                msg = "%s: %s" % (cmd[0], getattr(e, "strerror", None) or e)
                os.write(err_w, msg.encode("utf-8", "replace"))
            finally:
                os._exit(127)

    # --- parent ---
    os.close(err_w)
    exec_error = b""
    while True:
        chunk = os.read(err_r, 4096)
        if not chunk:
            break
        exec_error += chunk
    os.close(err_r)

    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake_w)

    state = {"status": None, "kill_deadline": None}

    def kill_group(sig):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def on_term(signum, _frame):
        if state["status"] is None:
            kill_group(signum)
            if state["kill_deadline"] is None:
                state["kill_deadline"] = time.monotonic() + KILL_GRACE_S

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_term)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake select()

    def reap():
        if state["status"] is not None:
            return True
        try:
            wpid, st = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            state["status"] = 0
            return True
        if wpid == 0:
            return False
        state["status"] = st
        return True

    stdin_open = True
    master_open = True
    stdout_ok = True
    exited_at = None
    last_output = time.monotonic()

    while master_open:
        now = time.monotonic()
        if reap() and exited_at is None:
            exited_at = now
            last_output = max(last_output, now)
        if exited_at is not None:
            if now - last_output > DRAIN_IDLE_S or now - exited_at > DRAIN_MAX_S:
                break
        if state["kill_deadline"] is not None and now > state["kill_deadline"] and state["status"] is None:
            kill_group(signal.SIGKILL)
            state["kill_deadline"] = None
        if os.getppid() != orig_ppid and state["status"] is None:
            # Node went away: do not leave the program running.
            on_term(signal.SIGHUP, None)
            stdin_open = False

        rlist = [master, wake_r]
        if stdin_open:
            rlist.append(0)
        timeout = 0.05 if exited_at is not None else 0.5
        try:
            ready, _, _ = select.select(rlist, [], [], timeout)
        except InterruptedError:
            continue

        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass

        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError as e:
                if e.errno == errno.EIO:  # all slave fds closed: child is gone
                    data = b""
                else:
                    raise
            if not data:
                master_open = False
            else:
                last_output = time.monotonic()
                if stdout_ok:
                    try:
                        write_all(1, data)
                    except (BrokenPipeError, OSError):
                        stdout_ok = False
                        if state["status"] is None:
                            on_term(signal.SIGHUP, None)

        if stdin_open and 0 in ready:
            try:
                data = os.read(0, 65536)
            except OSError:
                data = b""
            if not data:
                stdin_open = False  # keep the child running; just stop typing
            else:
                try:
                    write_all(master, data)
                except OSError:
                    stdin_open = False

    # Wait for the child (it may still be running if the pty was closed early).
    while not reap():
        if state["kill_deadline"] is not None and time.monotonic() > state["kill_deadline"]:
            kill_group(signal.SIGKILL)
            state["kill_deadline"] = None
        try:
            select.select([wake_r], [], [], 0.05)
            os.read(wake_r, 512)
        except (BlockingIOError, InterruptedError):
            pass

    st = state["status"]
    if os.WIFSIGNALED(st):
        sig = os.WTERMSIG(st)
        try:
            sig_name = signal.Signals(sig).name
        except ValueError:
            sig_name = "SIG%d" % sig
        code, exit_code = None, 128 + sig
    else:
        sig_name = None
        code = os.WEXITSTATUS(st) if os.WIFEXITED(st) else 1
        exit_code = code

    if status_fd is not None:
        report = {
            "code": code,
            "signal": sig_name,
            "error": exec_error.decode("utf-8", "replace") or None,
        }
        try:
            write_all(status_fd, (json.dumps(report) + "\n").encode())
            os.close(status_fd)
        except OSError:
            pass
    if exec_error:
        try:
            sys.stderr.write("pty-bridge: cannot run %s\n" % exec_error.decode("utf-8", "replace"))
        except OSError:
            pass
    try:
        os.close(master)
    except OSError:
        pass
    os._exit(exit_code)


if __name__ == "__main__":
    main()
