#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
# measure.py: runs one command and reports the CPU seconds and peak memory of its whole process tree.
#
# Usage: measure.py [--timeout S] [--pidfile F] OUT -- COMMAND [ARGS...]
# Called by bench/run, once per run. Becomes a child subreaper so that processes the command forks
# (pmacct's plugins, daemonized children) are re-parented here and their CPU time is counted when
# they exit; waits until every descendant has exited. Writes one line to OUT:
#   rc=N cpu=S user=S sys=S wall=S rss_kb=K
# cpu = user + system seconds of every descendant (getrusage RUSAGE_CHILDREN), so pmacct's sleeps
# before and after a savefile cost nothing. rss_kb = the larger of the largest single process
# (ru_maxrss) and the highest sum of VmRSS over the tree, sampled every 50 ms.
# --pidfile: writes the command's pid there (bench/run sends it SIGTERM to stop a daemon).
# --timeout: after S seconds the tree is killed and rc is 124 (the run counts as a failure).
import ctypes
import os
import resource
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def tree_rss_kb(root):
    """Sum of VmRSS (kB) over root and its descendants; processes vanishing mid-scan are skipped."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def main(argv):
    timeout, pidfile = None, None
    while argv and argv[0].startswith("--") and argv[0] != "--":
        opt = argv.pop(0)
        if opt == "--timeout":
            timeout = float(argv.pop(0))
        elif opt == "--pidfile":
            pidfile = argv.pop(0)
        else:
            sys.exit(f"measure.py: unknown option {opt}")
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: measure.py [--timeout S] [--pidfile F] OUT -- COMMAND [ARGS...]")
    out, cmd = argv[0], argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    if pidfile:
        with open(pidfile, "w") as f:
            f.write(f"{pid}\n")
    rc, peak, killed = None, 0, False
    while True:
        if pid is not None and rc is None:
            peak = max(peak, tree_rss_kb(pid))
        else:
            peak = max(peak, tree_rss_kb(os.getpid()))
        try:
            while True:
                w, status = os.waitpid(-1, os.WNOHANG)
                if w == 0:
                    break
                if w == pid:
                    rc = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            break  # no descendant left
        if timeout is not None and not killed and time.monotonic() - start > timeout:
            killed = True
            for p in [pid] + list_children():
                try:
                    os.killpg(p, signal.SIGKILL)
                except OSError:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
        time.sleep(0.05)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.monotonic() - start
    if killed:
        rc = 124
    with open(out, "w") as f:
        f.write(f"rc={rc} cpu={ru.ru_utime + ru.ru_stime:.3f} user={ru.ru_utime:.3f} sys={ru.ru_stime:.3f} "
                f"wall={wall:.3f} rss_kb={max(ru.ru_maxrss, peak)}\n")
    return 0 if rc == 0 else 1


def list_children():
    """Direct children of this process (the command and re-parented orphans)."""
    me, out = os.getpid(), []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
                if int(stat[stat.rfind(b")") + 2:].split()[1]) == me:
                    out.append(int(name))
            except OSError:
                pass
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
