"""Submit a rayrec job with ``ray job submit`` to a throw-away local Ray head.

The same commands a user runs against a real cluster, on one machine:

1. ``ray start --head --block`` on 127.0.0.1, every port picked free, its own
   ``--temp-dir``, token auth with a fresh token (``RAY_AUTH_MODE=token`` and
   ``RAY_AUTH_TOKEN_PATH`` pointing at a file in that temp dir);
2. ``ray job submit --no-wait --working-dir REPO --runtime-env-json {"excludes": ...}``
   (the virtualenv, ``.git``, ``runs/``, ``data/`` and caches stay behind);
3. ``ray job logs --follow`` until the job ends (with a timeout), ``ray job status``;
4. stops that head only: SIGTERM to its ``ray start`` process (whose reaper takes its
   process group down), then SIGKILL to whatever is left of *that* process tree. No
   ``ray stop``: it would kill every Ray on the machine.

Any other Ray on the machine (another cluster, a test session's ``ray.init``) is not
touched: different ports, temp dir and token; ``RAY_ADDRESS`` is removed from the
children's environment.

Usage (from the repository root)::

    python scripts/submit_smoke.py                        # the default entrypoint below
    python scripts/submit_smoke.py -- rayrec train hac --stop-iters 2 --out /tmp/x
    python scripts/submit_smoke.py --address http://127.0.0.1:8265 -- rayrec ...
        # an existing cluster: only submit and wait (auth from your environment)

Exit status 0 when the job SUCCEEDED; the job's logs go to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

log = logging.getLogger("submit_smoke")

REPO = Path(__file__).resolve().parents[1]
#: gitignore-style patterns left out of the uploaded working dir
EXCLUDES = (
    ".venv*",  # any virtualenv (CI's is .venv-ci)
    ".git",
    "/runs",
    "/data",
    "/.whl",
    "/.rayrec-cache",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "*.egg-info",
    "build",
    "dist",
)
TUNE_SPEC = "tune_configs/hac_lambda.yaml"
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
#: environment variables of an enclosing Ray that must not leak into the children
RAY_CONTEXT_VARS = ("RAY_ADDRESS", "RAY_JOB_ID", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


class SmokeError(RuntimeError):
    """The head did not start or the job did not succeed (message says which)."""


def default_entrypoint(repo: Path = REPO) -> list[str]:
    """``rayrec tune <spec> --smoke`` when the sweep spec exists, else a 2-iteration train.

    Outputs go to a fresh folder under the system temp dir (the job's own working dir
    is deleted with the head).
    """
    out = Path(tempfile.gettempdir()) / f"rayrec-smoke-{uuid.uuid4().hex[:8]}"
    if (repo / TUNE_SPEC).is_file():
        return ["rayrec", "tune", TUNE_SPEC, "--smoke", "--storage", str(out / "tune")]
    return ["rayrec", "train", "hac", "--env", "envs/synthetic.yaml", "--stop-iters", "2",
            "--eval-users", "50", "--out", str(out / "train")]  # fmt: skip


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 right now (held open until all are chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def ray_cli() -> str:
    """The ``ray`` executable next to this Python (the same install as rayrec)."""
    exe = Path(sys.executable).parent / "ray"
    return str(exe) if exe.is_file() else "ray"


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class LocalHead:
    """A single-node Ray cluster of its own, started and stopped by this object.

    Use as a context manager; :attr:`address` is the job server's http address and
    :attr:`env` the environment a client needs (token auth included).
    """

    num_cpus: int = 2
    extra_env: Mapping[str, str] = field(default_factory=dict)
    start_timeout_s: float = 120.0
    keep_temp_dir: bool = False
    temp_dir: Path = field(init=False)
    env: dict[str, str] = field(init=False)
    dashboard_port: int = field(init=False)
    proc: subprocess.Popen[bytes] | None = field(init=False, default=None)
    _tree: set[tuple[int, int]] = field(init=False, default_factory=set)
    _log: IO[bytes] = field(init=False)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def __enter__(self) -> LocalHead:
        # short: Ray puts unix sockets under it (~107 characters at most)
        self.temp_dir = Path(tempfile.mkdtemp(prefix="rr-head-", dir="/tmp"))
        token_file = self.temp_dir / "auth_token"
        token_file.write_text(secrets.token_hex(32))
        token_file.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if k not in RAY_CONTEXT_VARS}
        bin_dir = str(Path(sys.executable).parent)
        env.update(
            {
                "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
                "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN_PATH": str(token_file),
                "RAY_USAGE_STATS_ENABLED": "0",
                "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
                **self.extra_env,
            }
        )
        self.env = env
        names = ("port", "node-manager-port", "object-manager-port", "ray-client-server-port",
                 "dashboard-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                 "runtime-env-agent-port", "metrics-export-port")  # fmt: skip
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        self.dashboard_port = ports["dashboard-port"]
        cmd = [
            ray_cli(), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
            f"--temp-dir={self.temp_dir}", f"--num-cpus={self.num_cpus}", "--num-gpus=0",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1",
            "--disable-usage-stats", *(f"--{k}={v}" for k, v in ports.items()),
        ]  # fmt: skip
        log.info("starting a local head: %s", shlex.join(cmd))
        self._log = (self.temp_dir / "ray_start.log").open("wb")
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            self._wait_ready(token_file.read_text())
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self, token: str) -> None:
        """Until the job server answers an authenticated request."""
        deadline = time.monotonic() + self.start_timeout_s
        request = urllib.request.Request(
            f"{self.address}/api/version", headers={"Authorization": f"Bearer {token}"}
        )
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise SmokeError(
                    f"`ray start` exited ({self.proc.returncode}):\n{self.startup_log()}"
                )
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(request, timeout=5) as resp,
            ):
                if resp.status == 200:
                    self._remember_tree()
                    log.info("head ready at %s (temp dir %s)", self.address, self.temp_dir)
                    return
            time.sleep(1.0)
        raise SmokeError(
            f"the head was not ready in {self.start_timeout_s:.0f} s:\n{self.startup_log()}"
        )

    def startup_log(self) -> str:
        with contextlib.suppress(OSError):
            return _tail((self.temp_dir / "ray_start.log").read_text(errors="replace"))
        return ""

    def _remember_tree(self) -> None:
        """Add the head's current process tree to the set to clean up."""
        if self.proc is not None:
            self._tree |= descendants(self.proc.pid)

    def pids(self) -> set[int]:
        """Process ids of this head: ``ray start`` and its descendants seen so far."""
        self._remember_tree()
        return ({self.proc.pid} if self.proc else set()) | {pid for pid, _ in self._tree}

    def stop(self, grace_s: float = 20.0) -> None:
        """Stop this head and nothing else; idempotent."""
        if self.proc is None:
            return
        self._remember_tree()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # its reaper SIGTERMs the process group
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace_s)
        deadline = time.monotonic() + 5.0
        while any(alive(p) for p in self._tree) and time.monotonic() < deadline:
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # start_new_session: it leads the group
        left = [p for p in self._tree if alive(p)]
        for pid, _ in left:  # e.g. a job driver in a session of its own
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._log.close()
        if not self.keep_temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        log.info("head stopped (%d processes, %d needed SIGKILL)", len(self._tree) + 1, len(left))
        self.proc = None


Proc = tuple[int, int]  # (pid, start time in clock ticks): a pid that cannot be reused


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live process from /proc, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    if fields[0] == "Z":
        return None  # a zombie has exited
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> set[Proc]:
    """Every live descendant of ``root`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[Proc]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc/self").exists() else []:
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            children.setdefault(st[0], []).append((int(entry.name), st[1]))
    found: set[Proc] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child[0])
    return found


def alive(proc: Proc) -> bool:
    st = _stat(proc[0])
    return st is not None and st[1] == proc[1]


@dataclass
class JobOutcome:
    submission_id: str
    status: str
    logs: str
    seconds: float
    #: what `ray job submit` printed
    submit_output: str = ""


def ray_job(
    args: Sequence[str], env: Mapping[str, str], timeout: float, check: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = [ray_cli(), "job", *args]
    log.info("$ %s", shlex.join(cmd))
    done = subprocess.run(
        cmd, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise SmokeError(
            f"{shlex.join(cmd[:3])} failed ({done.returncode}):\n{_tail(done.stdout + done.stderr)}"
        )
    return done


def submit_and_wait(
    address: str,
    entrypoint: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    working_dir: Path = REPO,
    timeout_s: float = 600.0,
) -> JobOutcome:
    """Submit ``entrypoint``, follow it to its end, return its status and logs.

    Raises:
        SmokeError: submission failed or the job did not end within ``timeout_s``
            (it is then stopped).
    """
    env = dict(os.environ if env is None else env)
    submission_id = f"rayrec-smoke-{uuid.uuid4().hex[:8]}"
    runtime_env = json.dumps({"excludes": list(EXCLUDES)})
    t0 = time.monotonic()
    submitted = ray_job(
        ["submit", f"--address={address}", f"--submission-id={submission_id}",
         f"--working-dir={working_dir}", f"--runtime-env-json={runtime_env}", "--no-wait",
         "--", *entrypoint],
        env, timeout=120,
    )  # fmt: skip
    try:
        ray_job(
            ["logs", submission_id, f"--address={address}", "--follow"],
            env,
            timeout=max(1.0, timeout_s - (time.monotonic() - t0)),
            check=False,
        )
    except subprocess.TimeoutExpired:
        ray_job(["stop", submission_id, f"--address={address}"], env, timeout=60, check=False)
        logs = ray_job(["logs", submission_id, f"--address={address}"], env, 60, False).stdout
        raise SmokeError(f"job {submission_id} still running after {timeout_s:.0f} s; stopped."
                         f"\n{_tail(logs)}") from None  # fmt: skip
    status = job_status(address, submission_id, env)
    logs = ray_job(["logs", submission_id, f"--address={address}"], env, timeout=60).stdout
    return JobOutcome(
        submission_id, status, logs, time.monotonic() - t0, submitted.stdout + submitted.stderr
    )


#: how `ray job status` words each state (ray/dashboard/modules/job/cli.py)
STATUS_WORDS = {"succeeded": "SUCCEEDED", "failed": "FAILED", "was stopped": "STOPPED"}


def parse_status(submission_id: str, text: str) -> str | None:
    """The status ``ray job status`` printed for ``submission_id`` (None if none)."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)  # colour codes
    sid = re.escape(submission_id)
    found = re.findall(rf"Job '{sid}' (succeeded|failed|was stopped)", plain)
    if found:
        return STATUS_WORDS[found[-1]]
    other = re.findall(rf"Status for job '{sid}': ([\w.]+)", plain)
    return other[-1].rsplit(".", 1)[-1].upper() if other else None


def job_status(address: str, submission_id: str, env: Mapping[str, str]) -> str:
    """The job's final status (``logs --follow`` can end a moment before the status)."""
    out = ""
    for _ in range(10):
        out = ray_job(["status", submission_id, f"--address={address}"], env, timeout=60).stdout
        status = parse_status(submission_id, out)
        if status in TERMINAL:
            return status
        time.sleep(3.0)
    raise SmokeError(f"job {submission_id}: no final status; last said:\n{_tail(out)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--address", help="an existing cluster's job server (no local head)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the job")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local head")
    parser.add_argument("entrypoint", nargs="*", help="after --: the command to run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    entrypoint = args.entrypoint or default_entrypoint()
    try:
        if args.address:
            outcome = submit_and_wait(args.address, entrypoint, timeout_s=args.timeout)
        else:
            with LocalHead(num_cpus=args.num_cpus) as head:
                outcome = submit_and_wait(
                    head.address, entrypoint, env=head.env, timeout_s=args.timeout
                )
    except SmokeError as exc:
        log.error("%s", exc)
        return 1
    sys.stdout.write(outcome.logs)
    log.info("job %s: %s in %.0f s", outcome.submission_id, outcome.status, outcome.seconds)
    return 0 if outcome.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
