"""Runs a command in a pseudo-terminal and answers its prompts.

usage: pty_drive.py STEPS_JSON COMMAND [ARGS...]
STEPS_JSON is a list of [text to wait for, keys to send]. The transcript goes to
stdout; the exit status is the command's.
"""
import json
import os
import pty
import select
import sys
import time

steps = json.loads(sys.argv[1])
cmd = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)

buf = b""
step = 0
mark = 0  # only output after the last answer can match the next prompt
deadline = time.time() + 120
while True:
    if time.time() > deadline:
        os.kill(pid, 9)
        sys.stdout.write(buf.decode(errors="replace") + "\n[pty_drive: timed out]\n")
        sys.exit(3)
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        buf += data
    if step < len(steps) and steps[step][0].encode() in buf[mark:]:
        time.sleep(0.2)
        os.write(fd, steps[step][1].encode())
        buf += b"\n[sent %r]\n" % steps[step][1].encode()
        mark = len(buf)
        step += 1

_, status = os.waitpid(pid, 0)
sys.stdout.write(buf.decode(errors="replace"))
if step < len(steps):
    sys.stdout.write("\n[pty_drive: prompt never seen: %r]\n" % steps[step][0])
    sys.exit(4)
sys.exit(os.waitstatus_to_exitcode(status))
