"""Resident mode (``TOLLGATE_RESIDENT_IDLE``): ``tollgate sbom|scan`` run by a warm process
answer as the command alone does (document, exit status, stderr, files written relative
to the caller's directory); the process serves its user only, ends when idle, refuses
once its code changed, and interrupts a command whose caller went away.

Real processes throughout: the CLI as a subprocess, the resident process it starts, and
a stand-in Syft where a command must hang."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import REPO_ROOT, fake_syft, run_tollgate
from tests.support.layers import File
from tests.support.oci import ImageSpec, write_image

pytestmark = pytest.mark.integration

METADATA = b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n"
OS_RELEASE = b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
SERVER = [sys.executable, "-m", "service.cli.resident_server"]


@dataclass
class Resident:
    """The commands' TMPDIR, under which their resident process keeps its socket."""

    root: Path

    @property
    def env(self) -> dict[str, str]:
        return {"TOLLGATE_RESIDENT_IDLE": "60", "TMPDIR": str(self.root), "XDG_RUNTIME_DIR": ""}

    @property
    def directory(self) -> Path:
        return self.root / f"tollgate-{os.getuid()}"

    def log(self) -> str:
        return "".join(path.read_text() for path in self.directory.glob("*.log"))

    def served(self) -> int:
        """Commands the resident process ran to their end."""
        return self.log().count("command run by pid")

    def pids(self) -> list[int]:
        return [int(text) for p in self.directory.glob("*.lock") if (text := p.read_text())]

    def wait_serving(self) -> None:
        _wait(lambda: "serving on" in self.log() and any(self.directory.glob("*.sock")))


def _wait(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def resident() -> Iterator[Resident]:
    root = Path(tempfile.mkdtemp(prefix="tg-", dir="/tmp"))  # a socket's path: <108 bytes
    try:
        yield Resident(root)
    finally:
        for pid in Resident(root).pids():
            if _alive(pid):
                os.kill(pid, signal.SIGTERM)
        shutil.rmtree(root)


@pytest.fixture
def image(tmp_path: Path) -> str:
    layout = tmp_path / "layout"
    layer = {
        "etc/os-release": File(OS_RELEASE),
        "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA": File(METADATA),
    }
    write_image(layout, ImageSpec(layers=[layer]), tag="1")
    return f"oci-dir:{layout}:1"


def test_a_served_command_answers_as_the_command_alone(
    resident: Resident, image: str, tmp_path: Path
) -> None:
    alone = run_tollgate(["sbom", image, "-o", "alone.json"], tmp_path / "d1", cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    first = run_tollgate(
        ["sbom", image, "-o", "first.json"], tmp_path / "d2", resident.env, cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr  # ran itself, and started the resident process
    resident.wait_serving()
    assert resident.served() == 0
    served = run_tollgate(
        ["sbom", image, "-o", "served.json"], tmp_path / "d3", resident.env, cwd=tmp_path
    )
    assert served.returncode == 0, served.stderr
    assert resident.served() == 1
    assert served.stderr == alone.stderr
    document = (tmp_path / "alone.json").read_bytes()
    assert json.loads(document)["components"]
    assert (tmp_path / "first.json").read_bytes() == document
    assert (tmp_path / "served.json").read_bytes() == document
    modes = {(tmp_path / name).stat().st_mode for name in ("alone.json", "served.json")}
    assert len(modes) == 1

    bad = ["sbom", "oci-dir:/no/such/layout:1"]
    failed_alone = run_tollgate(bad, tmp_path / "d1")
    failed_served = run_tollgate(bad, tmp_path / "d3", resident.env)
    assert resident.served() == 2
    assert failed_served.returncode == failed_alone.returncode == 2
    assert failed_served.stderr == failed_alone.stderr
    assert failed_served.stderr.startswith("tollgate: error: ")


def test_a_served_scan_decides_as_the_scan_alone(resident: Resident, tmp_path: Path) -> None:
    """``tollgate scan`` of an image that ships a private key: the shipped default bundle
    blocks it (exit 1), run alone or by the resident process, with the same report."""
    layout = tmp_path / "layout"
    key = b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    layer = {"etc/os-release": File(OS_RELEASE), "root/.ssh/id_ed25519": File(key, 0o600)}
    write_image(layout, ImageSpec(layers=[layer]), tag="1")
    scan = ["scan", f"oci-dir:{layout}:1", "-f", "json"]
    alone = run_tollgate(scan, tmp_path / "alone")
    run_tollgate(["sbom", "oci-dir:/no/such/layout:1"], tmp_path / "d", resident.env)
    resident.wait_serving()
    served = run_tollgate(scan, tmp_path / "served", resident.env)
    assert resident.served() == 1
    assert served.returncode == alone.returncode == 1, served.stderr
    reports = [json.loads(run.stdout) for run in (alone, served)]
    for report in reports:  # when each was decided and how long it took: theirs alone
        report.pop("timings", None)
        report["decision"].pop("evaluated_at")
    assert reports[0] == reports[1]
    assert reports[0]["decision"]["outcome"] == "block"
    assert [secret["path"] for secret in reports[0]["secret_files"]] == ["root/.ssh/id_ed25519"]


@pytest.mark.parametrize("served", [True, False], ids=["resident", "alone"])
def test_an_interrupted_command_stops_its_engine(
    served: bool, resident: Resident, image: str, tmp_path: Path
) -> None:
    """The caller gets SIGINT (Ctrl-C): the command ends, and so does the engine it runs
    (in a session of its own, which a terminal's SIGINT does not reach)."""
    engine_pid = tmp_path / "engine.pid"
    env = {
        "TOLLGATE_SYFT_PATH": str(fake_syft(tmp_path, f"echo $$ > {engine_pid}; exec sleep 120")),
        "TOLLGATE_SYFT_LAYER_EVIDENCE": "false",
        "TOLLGATE_ENGINE_TIMEOUT": "300",
        "PYTHONPATH": str(REPO_ROOT),
        "TOLLGATE_DATA_DIR": str(tmp_path / "data"),
    }
    if served:
        env.update(resident.env)
        run_tollgate(["sbom", "oci-dir:/no/such/layout:1"], tmp_path / "data", resident.env)
        resident.wait_serving()
    caller = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "sbom", image],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: engine_pid.exists() and engine_pid.read_text().strip() != "")
        engine = int(engine_pid.read_text())
        assert _alive(engine)
        caller.send_signal(signal.SIGINT)
        assert caller.wait(timeout=30) == 1  # click's "Aborted!", the resident's child's too
        _wait(lambda: not _alive(engine), timeout=30)
    finally:
        caller.kill()
        caller.wait()
    if served:
        _wait(lambda: resident.served() == 1)  # the probe started it, ran itself
        assert all(_alive(pid) for pid in resident.pids())  # and still serving


def test_the_resident_process_ends_when_idle(resident: Resident) -> None:
    resident.directory.mkdir(mode=0o700)
    path = resident.directory / "resident-test.sock"
    server = subprocess.Popen(
        [*SERVER, str(path), "0.5"], cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True
    )
    _, log = server.communicate(timeout=120)
    assert server.returncode == 0
    assert "serving on" in log and "ended" in log
    assert not path.exists()


def test_a_second_resident_process_for_one_socket_ends_at_once(resident: Resident) -> None:
    resident.directory.mkdir(mode=0o700)
    path = resident.directory / "resident-test.sock"
    first = subprocess.Popen([*SERVER, str(path), "60"], cwd=REPO_ROOT, stderr=subprocess.PIPE)
    try:
        _wait(path.exists)
        second = subprocess.run([*SERVER, str(path), "60"], cwd=REPO_ROOT, timeout=60, check=False)
        assert second.returncode == 0
        assert first.poll() is None
    finally:
        first.terminate()
        first.communicate()


@pytest.mark.skipif(os.getuid() != 0, reason="needs another user to connect as")
def test_another_user_is_refused(resident: Resident, image: str, tmp_path: Path) -> None:
    """Even where the socket is reachable (a directory and socket anyone may use), a
    caller of another uid gets no command run."""
    resident.root.chmod(0o755)
    directory = resident.root / "open"
    directory.mkdir(mode=0o777)
    directory.chmod(0o777)
    path = directory / "resident-test.sock"
    server = subprocess.Popen([*SERVER, str(path), "60"], cwd=REPO_ROOT, stderr=subprocess.PIPE)
    try:
        _wait(path.exists)
        path.chmod(0o777)
        request = json.dumps({"argv": ["sbom", image], "cwd": "/", "env": {}, "umask": 18})
        caller = (
            "import socket, sys\n"
            "c = socket.socket(socket.AF_UNIX)\n"
            f"c.connect({str(path)!r})\n"
            f"body = {request!r}.encode()\n"
            "socket.send_fds(c, [len(body).to_bytes(4, 'big') + body], [0, 1, 2])\n"
            "try:\n    answer = c.recv(100)\n"
            "except ConnectionResetError:\n    answer = b''\n"
            "print(repr(answer))\n"
        )
        run = subprocess.run(
            ["/usr/bin/python3", "-c", caller],  # the venv may be out of its reach
            user=65534,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == "b''"  # closed: no status, no command
    finally:
        server.terminate()
        _, log = server.communicate()
    assert b"refused a caller of uid 65534" in log
    assert b"command run by pid" not in log


def test_a_directory_others_may_enter_is_not_used(
    resident: Resident, image: str, tmp_path: Path
) -> None:
    resident.directory.mkdir(mode=0o755)
    resident.directory.chmod(0o755)
    run = run_tollgate(["sbom", image], tmp_path / "data", resident.env)
    assert run.returncode == 0
    assert "is not a directory of this user's alone (mode 0700): no resident process" in run.stderr
    assert list(resident.directory.iterdir()) == []


def test_a_refusal_runs_the_command_itself(resident: Resident, image: str, tmp_path: Path) -> None:
    """A resident process whose code changed answers ``refused``: the command runs as
    if none were there (stand-in resident process: the answer is all that matters)."""
    alone = run_tollgate(["sbom", image], tmp_path / "alone")
    probe = run_tollgate(["sbom", "oci-dir:/no/such/layout:1"], tmp_path / "d", resident.env)
    assert probe.returncode == 2
    resident.wait_serving()
    [path] = resident.directory.glob("*.sock")
    for pid in resident.pids():
        os.kill(pid, signal.SIGTERM)  # it stops serving: its socket is removed
        _wait(lambda pid=pid: not _alive(pid))
    assert not path.exists()
    stand_in = socket.socket(socket.AF_UNIX)
    stand_in.bind(str(path))
    stand_in.listen()
    asked = threading.Event()

    def refuse() -> None:
        connection, _ = stand_in.accept()
        with connection:
            _message, streams, _, _ = socket.recv_fds(connection, 1 << 20, 3)
            for stream in streams:
                os.close(stream)
            asked.set()
            connection.sendall(b'{"refused": "changed"}')

    thread = threading.Thread(target=refuse, daemon=True)
    thread.start()
    try:
        run = run_tollgate(["sbom", image], tmp_path / "data", resident.env)
    finally:
        stand_in.close()
        thread.join(timeout=30)
    assert asked.is_set()
    assert run.returncode == 0, run.stderr
    assert run.stdout == alone.stdout


def test_a_caller_in_a_removed_directory_runs_the_command_itself(
    resident: Resident, tmp_path: Path
) -> None:
    bad = ["sbom", "oci-dir:/no/such/layout:1"]
    run_tollgate(bad, tmp_path / "d", resident.env)
    resident.wait_serving()
    gone = tmp_path / "gone"
    gone.mkdir()
    script = f'cd {gone} && rmdir {gone} && exec "$0" -m service.cli "$@"'
    caller = subprocess.Popen(  # its directory removed once it is in it
        ["sh", "-c", script, sys.executable, *bad],
        env={**os.environ, **resident.env, "PYTHONPATH": str(REPO_ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )
    _, stderr = caller.communicate(timeout=120)
    assert caller.returncode == 2
    assert stderr.startswith("tollgate: error: ")
    assert resident.served() == 0


def test_status_and_stop(resident: Resident, tmp_path: Path) -> None:
    def resident_command(name: str) -> str:
        run = run_tollgate(["resident", name], tmp_path / "d", resident.env)
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    assert resident_command("status").startswith("none serving on ")
    run_tollgate(["sbom", "oci-dir:/no/such/layout:1"], tmp_path / "d", resident.env)
    resident.wait_serving()
    [pid] = resident.pids()
    [socket_file] = resident.directory.glob("*.sock")
    assert resident_command("status") == f"serving on {socket_file} (pid {pid})"
    assert resident_command("stop") == f"stopped the resident process {pid}"
    assert not _alive(pid)
    assert not socket_file.exists()
    assert resident_command("status") == f"none serving on {socket_file}"
    assert resident_command("stop") == f"none serving on {socket_file}"
