"""The ``assistant`` command. Errors become one line on stderr and exit code 2."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from assistant.errors import AssistantError
from assistant.redact import redact_url

if TYPE_CHECKING:
    from assistant.pipeline import Pipeline

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Sales-call assistant: transcripts, speakers, action items, needs and objections.",
)

F = TypeVar("F", bound=Callable[..., object])

ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="base (default), tiny.en, a local path or name")
]
EngineOpt = Annotated[str | None, typer.Option("--engine", help="Transcription engine")]
LanguageOpt = Annotated[str | None, typer.Option("--language", "-l", help="auto, en or de")]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format", "-f", help="json, md, srt, vtt, txt or email (a follow-up email draft)"
    ),
]
VocabularyOpt = Annotated[
    str | None, typer.Option("--vocabulary", help='Names to expect: "Salesforce, HubSpot"')
]
TranslateOpt = Annotated[
    bool | None,
    typer.Option(
        "--translate/--no-translate",
        help="Add an English translation beside non-English speech [default: ASSISTANT_TRANSLATE]",
    ),
]
CallDateOpt = Annotated[
    str | None,
    typer.Option("--call-date", help="Date of the call (YYYY-MM-DD); due dates count from it"),
]
TrackersOpt = Annotated[
    Path | None,
    typer.Option("--trackers", help='Keyword trackers, JSON: {"competitors": ["Acme", ...], ...}'),
]
RepChannelOpt = Annotated[
    str | None,
    typer.Option(
        "--rep-channel", help="left or right: the rep's channel in two-party stereo recordings"
    ),
]
SpeakersOpt = Annotated[
    int | None, typer.Option("--speakers", help="Number of speakers (1-8) [default: estimate]")
]


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(func: F) -> F:
    """Turn library errors into a one-line message and exit code 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return func(*args, **kwargs)
        except AssistantError as exc:
            fail(redact_url(str(exc)))
        except ValidationError as exc:  # a bad ASSISTANT_* environment variable
            problems = "; ".join(
                f"ASSISTANT_{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}"
                for err in exc.errors()
            )
            fail(f"invalid setting: {problems}")
        except KeyboardInterrupt:
            fail("interrupted", 130)
        return None

    return wrapper  # type: ignore[return-value]


def parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        fail(f"--call-date must look like 2026-03-31, not {value!r}")
    return None


def check_format(fmt: str) -> str:
    from assistant.formats import FORMATS

    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; expected one of: {', '.join(FORMATS)}")
    return fmt


def check_speakers(rep_channel: str | None, speakers: int | None) -> dict[str, Any]:
    if rep_channel is not None and rep_channel not in ("left", "right"):
        fail(f"--rep-channel must be left or right, not {rep_channel!r}")
    if speakers is not None and not 1 <= speakers <= 8:
        fail(f"--speakers must be between 1 and 8, not {speakers}")
    return {"rep_channel": rep_channel, "speakers": speakers}


def make_pipeline(**overrides: Any) -> Pipeline:
    from assistant.pipeline import Pipeline, pipeline_options
    from assistant.settings import get_settings

    return Pipeline(pipeline_options(get_settings(), **overrides))


@app.command()
@user_errors
def analyze(
    path: Annotated[
        Path, typer.Argument(help="A recording, or a transcript (.vtt/.srt/.jsonl/.json)")
    ],
    model: ModelOpt = None,
    engine: EngineOpt = None,
    language: LanguageOpt = None,
    fmt: FormatOpt = "json",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here")] = None,
    vocabulary: VocabularyOpt = None,
    translate: TranslateOpt = None,
    call_date: CallDateOpt = None,
    rep_channel: RepChannelOpt = None,
    speakers: SpeakersOpt = None,
    trackers: TrackersOpt = None,
) -> None:
    """Analyse one call and print (or write) its report."""
    from assistant.formats import render

    check_format(fmt)
    speaker_options = check_speakers(rep_channel, speakers)
    if not path.exists():
        fail(f"{path}: no such file")
    if path.is_dir():
        fail(f"{path} is a folder; use `assistant batch {path}`")
    pipeline = make_pipeline(
        model=model,
        engine=engine,
        language=language,
        vocabulary=vocabulary,
        translate=translate,
        call_date=parse_date(call_date),
        trackers_file=trackers,
        **speaker_options,
    )
    text = render(pipeline.run(path), fmt)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


@app.command()
@user_errors
def batch(
    folder: Annotated[Path, typer.Argument(help="Folder of recordings")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Reports folder [default: FOLDER/reports]")
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Include subfolders")
    ] = False,
    fmt: FormatOpt = "json",
    model: ModelOpt = None,
    engine: EngineOpt = None,
    language: LanguageOpt = None,
    vocabulary: VocabularyOpt = None,
    translate: TranslateOpt = None,
    rep_channel: RepChannelOpt = None,
    speakers: SpeakersOpt = None,
    enqueue: Annotated[
        bool,
        typer.Option(
            "--enqueue",
            help="Submit to the workers of the service (ASSISTANT_QUEUE, e.g. celery) and wait",
        ),
    ] = False,
    rep: Annotated[
        str | None,
        typer.Option("--rep", help="The user the calls belong to in the service (default: admin)"),
    ] = None,
) -> None:
    """Analyse every recording in a folder; re-runs skip what is already done.

    With --enqueue the recordings become calls in the service's database and its workers (on
    any number of machines) analyse them; one progress bar follows the whole batch."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from assistant.batch import BatchResult, find_recordings, run_batch

    check_format(fmt)
    speaker_options = check_speakers(rep_channel, speakers)
    if not folder.is_dir():
        fail(f"{folder}: not a folder")
    outdir = output or folder / "reports"
    files = find_recordings(folder, recursive, exclude=outdir)
    if not files:
        fail(f"{folder}: no recordings found (looked for audio and video files)")
    if enqueue:
        enqueue_batch(folder, files, rep, language)
        return
    pipeline = make_pipeline(
        model=model,
        engine=engine,
        language=language,
        vocabulary=vocabulary,
        translate=translate,
        **speaker_options,
    )
    # The results also go to the service's database, as calls of --rep, through the job code.
    from assistant.jobs.intake import StoredBatch, batch_owner
    from assistant.settings import get_settings
    from assistant.store import Database

    db = Database(get_settings().resolved_database_url)
    db.migrate()
    stored = StoredBatch(pipeline, db, get_settings(), batch_owner(db, rep))
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
    )
    with Progress(*columns, TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("analysing", total=len(files))

        def advance(result: BatchResult) -> None:
            bar.update(task, advance=1, description=f"{result.status}: {result.path.name}")

        results = run_batch(stored.run, folder, files, outdir, fmt, advance)
    table = Table(title=f"Batch: {folder} -> {outdir}")
    for column in ("file", "duration", "status", "seconds", "detail"):
        table.add_column(column, overflow="fold")
    for r in results:
        duration = f"{r.duration_s:.1f} s" if r.duration_s is not None else ""
        detail = r.error or (r.output.name if r.output else "")
        table.add_row(
            str(r.path.relative_to(folder.resolve())),
            duration,
            r.status,
            f"{r.seconds:.1f}",
            detail,
        )
    Console().print(table)
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        typer.echo(f"failed: {r.path}: {r.error}", err=True)
    if failed:
        fail(f"{len(failed)} of {len(results)} file(s) failed", 1)


def enqueue_batch(folder: Path, files: list[Path], rep: str | None, language: str | None) -> None:
    """``batch --enqueue``: register each file as a call, send its job, follow them to the end."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from assistant.jobs import get_queue
    from assistant.jobs.intake import TERMINAL, Registered, batch_owner, job_states, register
    from assistant.settings import get_settings
    from assistant.store import Database
    from assistant.transcribe import check_language

    settings = get_settings()
    queue = get_queue(settings.queue, settings)
    check = getattr(queue, "check", None)
    if check is not None:
        check()  # the broker must answer before anything is registered
    db = Database(settings.resolved_database_url)
    db.migrate()
    owner = batch_owner(db, rep)
    language = check_language(language) if language else None
    registered: list[Registered] = []
    failed: dict[Path, str] = {}
    for path in files:
        try:
            entry = register(db, settings, owner, path, language)
        except AssistantError as exc:
            failed[path] = str(exc)
            continue
        if entry.created:
            queue.submit(entry.job_id)
        registered.append(entry)
    job_ids = [r.job_id for r in registered]
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
    )
    console = Console(stderr=True)
    states = job_states(db, job_ids)
    with Progress(*columns, TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(f"{queue.name}: {len(job_ids)} job(s)", total=len(files))
        while True:
            states = job_states(db, job_ids)
            ended = sum(s.status in TERMINAL for s in states.values()) + len(failed)
            running = sum(s.status == "running" for s in states.values())
            bar.update(task, completed=ended, description=f"{queue.name}: {running} running")
            if ended >= len(files):
                break
            try:
                time.sleep(0.5)
            except KeyboardInterrupt:
                bar.stop()
                fail(
                    f"stopped waiting; the {len(files) - ended} unfinished job(s) go on in the "
                    "workers (`assistant status`; run the batch again to see the results)",
                    130,
                )
    table = Table(title=f"Batch: {folder} ({queue.name} queue, owner {owner})")
    for column in ("file", "duration", "status", "seconds", "detail"):
        table.add_column(column, overflow="fold")
    for r in registered:
        state = states[r.job_id]
        status = "skipped" if not r.created and state.status == "done" else state.status
        duration = f"{r.duration_s:.1f} s" if r.duration_s is not None else ""
        seconds = f"{state.seconds:.1f}" if state.seconds is not None else ""
        detail = state.error if state.status == "failed" else f"call {r.call_id}"
        table.add_row(
            str(r.path.relative_to(folder.resolve())), duration, status, seconds, detail or ""
        )
    for path, error in failed.items():
        table.add_row(str(path.relative_to(folder.resolve())), "", "failed", "", error)
    Console().print(table)
    errors: dict[Path, str] = {
        r.path: states[r.job_id].error or "failed"
        for r in registered
        if states[r.job_id].status == "failed"
    }
    errors.update(failed)
    for path, error in errors.items():
        typer.echo(f"failed: {path}: {error}", err=True)
    db.dispose()
    if errors:
        fail(f"{len(errors)} of {len(files)} file(s) failed", 1)


QueueOpt = Annotated[
    str | None,
    typer.Option("--queue", help="embedded or celery (default: ASSISTANT_QUEUE)"),
]


@app.command()
@user_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port", min=1, max=65535)] = 8000,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Job worker processes [default: ASSISTANT_WORKERS]", min=0),
    ] = None,
    queue: QueueOpt = None,
) -> None:
    """Run the web service and its job workers (SQLite and recordings in the data directory).

    With --queue celery the jobs go to `assistant worker` processes through Redis instead, and
    serve starts no workers of its own."""
    from api.server import serve as run_server
    from assistant.jobs import get_queue
    from assistant.settings import get_settings

    settings = get_settings()
    if queue is not None:
        settings = settings.model_copy(update={"queue": queue})
    get_queue(settings.queue, settings)  # an unknown queue or broker URL fails here
    if settings.queue != "embedded":
        workers = 0
    run_server(settings, host, port, settings.workers if workers is None else workers)


@app.command()
@user_errors
def worker(
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", help="Worker processes", min=1, max=64)
    ] = 1,
    name: Annotated[
        str | None, typer.Option("--name", help="Node name (default: assistant-PID@HOST)")
    ] = None,
) -> None:
    """Run a Celery worker for the service's jobs; each process loads the models once.

    It reads ASSISTANT_BROKER_URL, ASSISTANT_DATABASE_URL and the shared ASSISTANT_DATA_DIR
    (docs/deployment.md). SIGTERM finishes the running jobs, then stops."""
    from assistant.jobs.celery_queue import run_worker
    from assistant.settings import get_settings

    settings = get_settings()
    if settings.queue != "celery":
        settings = settings.model_copy(update={"queue": "celery"})
    run_worker(settings, concurrency, name)


@app.command()
@user_errors
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    queue: QueueOpt = None,
) -> None:
    """Queue depth, workers alive and jobs by state."""
    import json

    from rich.console import Console
    from rich.table import Table

    from assistant.jobs import get_queue
    from assistant.jobs.status import collect
    from assistant.settings import get_settings
    from assistant.store import Database

    settings = get_settings()
    if queue is not None:
        settings = settings.model_copy(update={"queue": queue})
    get_queue(settings.queue, settings)
    db = Database(settings.resolved_database_url)
    db.migrate()
    try:
        state = collect(settings, db)
    finally:
        db.dispose()
    if as_json:
        sys.stdout.write(json.dumps(state.as_dict(), indent=2) + "\n")
        return
    console = Console()
    jobs = ", ".join(f"{n} {name}" for name, n in state.jobs.items())
    console.print(f"queue: {state.queue}" + (f" ({state.broker})" if state.broker else ""))
    if state.waiting is not None:
        console.print(f"queue depth: {state.waiting} waiting, {state.delivered} delivered")
    if state.workers is not None:
        console.print(
            f"workers alive: {len(state.workers)}" + "".join(f"\n  {w}" for w in state.workers)
        )
    console.print(f"jobs: {jobs}")
    if state.running:
        table = Table(title="running")
        for column in ("job", "worker", "stage", "progress", "heartbeat"):
            table.add_column(column)
        for r in state.running:
            age = f"{r.heartbeat_age_s:.0f} s ago" if r.heartbeat_age_s is not None else ""
            if r.heartbeat_age_s is not None and r.heartbeat_age_s > state.stale_after_s:
                age += " (stale)"
            table.add_row(str(r.job_id), r.worker, r.stage or "", f"{r.progress:.0%}", age)
        console.print(table)


users_app = typer.Typer(no_args_is_help=True, help="Accounts of the service.")
app.add_typer(users_app, name="users")


@users_app.command("create")
@user_errors
def users_create(
    name: Annotated[str, typer.Argument(help="User name")],
    role: Annotated[str, typer.Option("--role", help="rep, manager or admin")] = "rep",
    team: Annotated[
        str | None, typer.Option("--team", help="Team (managers see their team)")
    ] = None,
) -> None:
    """Create a user and print their bearer token (shown only this once)."""
    from assistant.settings import get_settings
    from assistant.store import Database
    from assistant.store.users import create_user, issue_token

    db = Database(get_settings().resolved_database_url)
    db.migrate()
    with db.session() as session:
        token = issue_token(session, create_user(session, name, role, team))
    typer.echo(token)


@users_app.command("login-link")
@user_errors
def users_login_link(
    name: Annotated[str, typer.Argument(help="User name")],
    url: Annotated[str, typer.Option("--url", help="How users reach the server")] = (
        "http://127.0.0.1:8000"
    ),
) -> None:
    """Print a one-time login link for a user."""
    from assistant.settings import get_settings
    from assistant.store import Database
    from assistant.store.users import login_link

    settings = get_settings()
    db = Database(settings.resolved_database_url)
    db.migrate()
    typer.echo(login_link(db, (settings.public_url or url).rstrip("/"), name))


reps_app = typer.Typer(
    no_args_is_help=True,
    help="Rep voice profiles: an enrolled rep is recognised by voice and named in reports.",
)
app.add_typer(reps_app, name="reps")


@reps_app.command("enroll")
@user_errors
def reps_enroll(
    name: Annotated[str, typer.Argument(help="The rep's name, as reports should show it")],
    recordings: Annotated[
        list[Path], typer.Argument(help="Recordings of the rep speaking (30 s or more in all)")
    ],
    channel: Annotated[
        str | None,
        typer.Option(
            "--channel",
            help="left or right: the rep's channel in two-party stereo recordings "
            "[default: the voice that talks most]",
        ),
    ] = None,
) -> None:
    """Store a voice profile (an embedding, not the audio) for a rep; replaces an older one."""
    from assistant.diarize.profiles import ProfileStore, enroll
    from assistant.media import MediaOptions
    from assistant.settings import get_settings

    if channel is not None and channel not in ("left", "right"):
        fail(f"--channel must be left or right, not {channel!r}")
    for path in recordings:
        if not path.is_file():
            fail(f"{path}: no such file")
    settings = get_settings()
    media_options = MediaOptions(max_duration_s=settings.max_duration_s)
    profile = enroll(name, recordings, media_options, channel=channel)  # type: ignore[arg-type]
    path = ProfileStore(settings.profiles_dir).save(profile)
    typer.echo(f"enrolled {profile.name}: {profile.speech_s:.1f} s of speech -> {path}")


@reps_app.command("list")
@user_errors
def reps_list() -> None:
    """List enrolled reps."""
    from assistant.diarize.profiles import ProfileStore
    from assistant.settings import get_settings

    profiles = ProfileStore(get_settings().profiles_dir).list()
    if not profiles:
        typer.echo("no reps enrolled (assistant reps enroll NAME RECORDING...)", err=True)
    for profile in profiles:
        created = profile.created_at.strftime("%Y-%m-%d")
        typer.echo(f"{profile.name}\t{profile.speech_s:.1f} s\t{created}")


@reps_app.command("remove")
@user_errors
def reps_remove(name: Annotated[str, typer.Argument(help="The rep's name")]) -> None:
    """Delete a rep's voice profile."""
    from assistant.diarize.profiles import ProfileStore
    from assistant.settings import get_settings

    path = ProfileStore(get_settings().profiles_dir).remove(name)
    typer.echo(f"removed {name} ({path.name})")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
