"""Run everything on this machine: `python -m devstack` (what `make run` does).

PostgreSQL (embedded, or DATABASE_URL), migrated by Alembic; the Temporal dev server with the Web UI,
its state in `.data/temporal.db` so a restart keeps running cases, the search attributes
registered; a local SMTP server that keeps each e-mail in `.data/mail`; the worker (metrics for
Prometheus, traces to its log); the HTTP intake service with the borrowers' self-service page and the
daily intake Schedule; and the demo cases with their scripted operators. Ctrl-C stops it all.
Running it again starts nothing twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from adapters.codec import new_key_line
from adapters.config_files import CONFIG_DIR
from adapters.db import make_engine
from adapters.registry import Registry
from devstack import demo
from domain.registry import RegistryFile
from service.cases import Cases
from settings import DAILY_INTAKE_SCHEDULE_ID, IntakeSettings, PayloadKeys, Settings, TelemetrySettings, connect
from testkit import postgres, processes, servers
from testkit.smtp import MailCatcher
from workflows import search

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = CONFIG_DIR / "registry.yaml"  # the example teams, collectors and their training


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {message}", flush=True)


def ensure_keys(data: Path) -> Path:
    """A payload key for this machine's embedded run, made once (production keys come from a vault)."""
    keys = data / "payload-keys"
    if not PayloadKeys().text and not keys.exists():
        keys.write_text(new_key_line("dev-1") + "\n")
        keys.chmod(0o600)
        say(f"      made a payload encryption key in {keys} (keep it: old cases need it)")
    return keys


def ensure_secret(data: Path, name: str) -> str:
    """A secret for this machine's run, made once: the intake's bearer token, the self-service secret
    (production ones come from a vault)."""
    secret_file = data / name
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(32) + "\n")
        secret_file.chmod(0o600)
    return secret_file.read_text().strip()


def demo_config(data: Path, shipped: Path) -> Path:
    """The configuration this stack runs on: every file of `shipped` (CONFIG_DIR or config/), linked (an
    edited policy or pack still reaches the next case), plus the demo's self-service policy made from its
    `demo.yaml` (`demo.self_service_policy`) unless it has one of its own or no demo policy."""
    shipped, folder = shipped.resolve(), (data / "config").resolve()
    if shipped == folder or shipped.is_relative_to(folder) or folder.is_relative_to(shipped):
        return shipped  # the overlay would replace, or live inside, what it is made from: run on it as it is
    shutil.rmtree(folder, ignore_errors=True)
    for source in shipped.rglob("*"):
        if source.is_file():
            target = folder / source.relative_to(shipped)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source)
    made, base = folder / "policies" / f"{demo.SELF_SERVICE}.yaml", shipped / "policies" / "demo.yaml"
    if base.is_file() and not made.exists():
        policy = demo.self_service_policy(yaml.safe_load(base.read_text(encoding="utf-8")))
        made.write_text("# Made by devstack from demo.yaml at each start (devstack/demo.py): edit that.\n"
                        + yaml.safe_dump(policy, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def start_temporal(data: Path, port: int, ui_port: int, codec_port: int) -> subprocess.Popen[bytes]:
    return servers.dev_server(port, data / "temporal.log", db_file=data / "temporal.db", ui_port=ui_port,
                              codec_endpoint=f"http://127.0.0.1:{codec_port}", log_level="warn").start()


async def wait_for_temporal(settings: Settings, server: subprocess.Popen, data: Path, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while True:
        if server.poll() is not None:
            tail = (data / "temporal.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"the Temporal dev server exited (port in use?). Its log:\n{tail}")
        try:
            return await connect(settings)
        except Exception:
            if time.monotonic() > deadline:
                raise SystemExit(f"the Temporal dev server did not answer within {seconds:.0f} s") from None
            await asyncio.sleep(0.5)


def stop(process: subprocess.Popen | None, name: str) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        say(f"{name} did not stop in 20 s: killing it")
        process.kill()


def prepare_database(data: Path) -> str:
    given = Settings().database_url
    say("[1/4] PostgreSQL: " + ("DATABASE_URL" if given else f"embedded, in {data / 'postgres'}"))
    url = given or postgres.create_database(
        postgres.start_embedded(data / "postgres"), "duecourse")
    postgres.migrate(url)
    say("      migrated to the latest schema (alembic upgrade head)")
    asyncio.run(load_registry(url))
    say(f"      staff registry loaded from {REGISTRY.relative_to(CONFIG_DIR.parent)} (teams, collectors, training)")
    return url


async def load_registry(url: str) -> None:
    """The example teams and collectors, so visits can be dispatched (`duecourse registry load` does the same)."""
    engine = make_engine(url, pool_size=1)
    try:
        await Registry(engine).load(RegistryFile.model_validate(yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))))
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace, data: Path, url: str) -> None:
    server = worker = codec = intake = mail = None
    keys = ensure_keys(data)
    os.environ.setdefault("PAYLOAD_KEYS_FILE", str(keys))  # for the children, and the settings below
    settings = Settings(temporal_address=f"127.0.0.1:{args.port}")
    stop_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_event.set)
    try:
        say(f"[2/4] Temporal dev server on 127.0.0.1:{args.port}, state in {data / 'temporal.db'}")
        say(f"      codec server on 127.0.0.1:{args.codec_port}: the UI decrypts through it; "
            "the server sees ciphertext")
        codec = processes.Process("codec server", [
            sys.executable, "codec_server.py", "--port", str(args.codec_port),
            "--origin", f"http://127.0.0.1:{args.ui_port}", "--origin", f"http://localhost:{args.ui_port}",
        ], data / "codec.log").start()
        server = start_temporal(data, args.port, args.ui_port, args.codec_port)
        client = await wait_for_temporal(settings, server, data)
        say(f"      ready; search attributes: {', '.join(k.name for k in search.ALL)}")

        say(f"[3/4] Worker on task queue {settings.task_queue} (log and traces: {data / 'worker.log'}; "
            f"metrics: http://{args.metrics}/metrics)")
        mail = MailCatcher(port=args.smtp_port, spool=data / "mail").start()
        page = f"http://127.0.0.1:{args.intake_port}/s"
        services = os.environ | {
            "DATABASE_URL": url, "TEMPORAL_ADDRESS": settings.temporal_address,
            "CONFIG_DIR": str(demo_config(data, settings.config_dir)),
            "SELF_SERVICE_SECRET": ensure_secret(data, "self-service-secret"), "SELF_SERVICE_URL": page,
            "SELF_SERVICE_CHECKOUT": "sandbox",
            "SMTP_HOST": mail.host, "SMTP_PORT": str(mail.port)}
        worker = processes.worker(data / "worker.log", services | {
            "METRICS_ADDRESS": TelemetrySettings().metrics_address or args.metrics}).start()
        say(f"      HTTP intake on 127.0.0.1:{args.intake_port} (log: {data / 'intake.log'}; "
            f"bearer token in {data / 'intake-token'})")
        intake = processes.Process("intake service", [sys.executable, "-m", "intake"], data / "intake.log",
                                   services | {"INTAKE_PORT": str(args.intake_port),
                                               "INTAKE_TOKEN": ensure_secret(data, "intake-token")}).start()
        say(f"      borrowers' self-service page on {page}; e-mails go to a local SMTP server on "
            f"{mail.host}:{mail.port}, each kept in {data / 'mail'} as an .eml file")
        daily = IntakeSettings()
        say(f"      the service keeps Schedule '{DAILY_INTAKE_SCHEDULE_ID}': daily at {daily.schedule_at} "
            f"{daily.schedule_timezone}, from the loans table (pause or trigger it in the UI)")

        ui = f"http://127.0.0.1:{args.ui_port}/namespaces/default/workflows"
        cases = Cases(client, settings.task_queue)
        if args.no_demo:
            say("[4/4] Demo skipped (--no-demo)")
        else:
            say("[4/4] Demo cases on the 'demo' policy (days compressed into seconds, rules unchanged)")
            for report in await demo.start_demo(cases):
                say(f"      {report.case_id}: {report.status.replace('_', ' ')}")
        print(f"""
  Web UI        {ui}
  Find a stage  {ui}?query=CaseStage%3D%22field_visit%22
  A case        python starter.py status demo-low-risk-pays
  Intake API    http://127.0.0.1:{args.intake_port}/docs  (Authorization: Bearer $(cat {data / 'intake-token'}))
  Schedules     http://127.0.0.1:{args.ui_port}/namespaces/default/schedules
  Be a borrower {data / 'mail'}: demo-self-service's e-mail has a link to the page; the code follows by e-mail
  Stop          Ctrl-C (state is kept in {data}; `make clean` wipes it)
""", flush=True)
        operators = None if args.no_demo else asyncio.create_task(demo.run_operators(cases, say, stop_event))
        while not stop_event.is_set():
            if worker.poll() is not None:
                say(f"the worker exited with code {worker.returncode}; see {data / 'worker.log'}")
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), 1)
        stop_event.set()
        if operators:
            await operators
    finally:
        say("stopping: intake service, worker, Temporal dev server, codec server, mail server, PostgreSQL")
        stop(intake, "the intake service")
        stop(worker, "the worker")
        stop(server, "the Temporal dev server")
        stop(codec, "the codec server")
        if mail is not None:
            mail.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT / ".data"), help="where state is kept (default .data/)")
    parser.add_argument("--port", type=int, default=7233)
    parser.add_argument("--ui-port", type=int, default=8233)
    parser.add_argument("--codec-port", type=int, default=8081)
    parser.add_argument("--intake-port", type=int, default=8090)
    parser.add_argument("--smtp-port", type=int, default=8025, help="the local SMTP server e-mails go to")
    parser.add_argument("--metrics", default="127.0.0.1:9464", help="where the worker serves Prometheus metrics")
    parser.add_argument("--no-demo", action="store_true", help="start no demo cases")
    args = parser.parse_args()
    data = Path(args.data).resolve()
    data.mkdir(parents=True, exist_ok=True)
    try:
        url = prepare_database(data)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    asyncio.run(run(args, data, url))
    say("stopped (PostgreSQL stops with this process)")


if __name__ == "__main__":
    main()
