"""Grading a class: each submission is a task of a Dask distributed cluster.

    python -m grader subs/*/reports --csv grades.csv                       # a LocalCluster on this machine
    python -m grader subs/*/reports --csv grades.csv --workers 2
    python -m grader subs/*/reports --csv grades.csv --scheduler tcp://HOST:8786   # a cluster of your own

- **References once per worker.** A worker plugin loads the grader's files (the classifier, Inception and the FID
  statistics, MNIST) when the worker starts; every submission graded there reuses them (:func:`worker_references`).
  On a cluster of your own the workers need this package and the grader's files, and read the submission folders
  by the same paths as the client (a shared file system).
- **A time limit per submission.** At most one submission runs per worker thread, so a submission's clock starts
  when a worker takes it. One that outlives its limit is cancelled, its worker restarted (its nanny starts a fresh
  process, which loads the references again), and its row says so; the others never wait on it.
- **Nothing lost.** A folder that cannot be graded (missing, a file, empty, unreadable, huge), a submission whose
  grading raised, or one whose worker died, is one row with its reason; every other submission is graded.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader import output
from grader.copies import Evidence, evidence_of
from grader.identity import NOBODY, Identity
from grader.references import References
from grader.runner import Result, grade_and_draw, load_rubric, verdict
from grader.safe import Submission, folder_problem, one_line

NOT_GRADED = "NOT GRADED"
CONNECT_SECONDS, WORKER_WAIT_SECONDS = 30, 120


class ClusterUnavailable(Exception):
    """The Dask cluster given cannot grade: nothing was graded."""


@dataclass(frozen=True)
class Settings:
    """What a worker needs to build its references: the same for every submission of a batch."""

    rubric: str | None = None  # path of the rubric file, None for the grader's own
    mnist_dir: str | None = None
    fid: bool = True
    torch_threads: int | None = None  # None: leave torch's default (Dask sets OMP_NUM_THREADS=1 for its workers)
    draw_seed: int | None = None  # the grader's random picks: None fresh for each submission


@dataclass
class Graded:
    """One submission's row of the class: its grade, or why it has none."""

    submission: str
    student_id: str = ""  # whose run the grader was told it is ("" nobody said)
    score: float = 0.0
    max_score: float | None = None
    verdict: str = NOT_GRADED
    error: str = ""  # why it was not graded
    points: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    evidence: Evidence | None = None
    seconds: float = 0.0
    worker: str = ""  # host:pid that graded it
    references_built: int = 0  # References objects that worker process had built by then (1: loaded once)

    @property
    def graded(self) -> bool:
        return self.verdict != NOT_GRADED

    def row(self) -> dict:
        row = {
            "submission": self.submission,
            "student_id": self.student_id,
            "score": self.score,
            "max_score": self.max_score,
            "verdict": self.verdict,
            "error": self.error,
            "seconds": round(self.seconds, 1),
            "worker": self.worker,
        }
        return row | self.points


# On a worker -------------------------------------------------------------------------------------------

_LOADED: dict[Settings, tuple[dict, References]] = {}


def worker_references(settings: Settings) -> tuple[dict, References]:
    """The rubric and references of this process, built once per settings and kept for every later submission."""
    if settings not in _LOADED:
        if settings.torch_threads:
            import torch

            torch.set_num_threads(settings.torch_threads)
        rubric = load_rubric(settings.rubric)
        mnist_dir = Path(settings.mnist_dir) if settings.mnist_dir else None
        refs = References(rubric, mnist_dir=mnist_dir, fid=settings.fid, progress=False, draw_seed=settings.draw_seed)
        refs.classifier, refs._train_matrix, refs._test_matrix  # noqa: B018 - loaded now, not inside a time limit
        if refs.fid_enabled:
            refs.fid_statistics, refs._extractor  # noqa: B018
        _LOADED[settings] = (rubric, refs)
    return _LOADED[settings]


def grade_folder(folder: str, out: str, settings: Settings, identity: Identity = NOBODY) -> Graded:
    """Grade one submission folder, write its results.json and reports into ``out``, and gather the evidence the
    copy detection needs. Never raises for a bad submission: the row says what was wrong."""
    start = time.perf_counter()
    rubric, refs = worker_references(settings)
    done = Graded(folder, worker=f"{socket.gethostname()}:{os.getpid()}", references_built=References.built)
    done.student_id = identity.student_id or ""
    if grade_into(done, Path(folder), Path(out), rubric, refs, settings, identity) is not None:
        done.evidence = evidence_of(Submission(Path(folder), rubric["limits"]), folder, refs.image_size)
    done.seconds = time.perf_counter() - start
    return done


def grade_into(
    done: Graded,
    folder: Path,
    out: Path,
    rubric: dict,
    refs: References,
    settings: Settings = Settings(),
    identity: Identity = NOBODY,
) -> list[Result] | None:
    """Grade ``folder`` into ``done`` and write its results.json and reports into ``out``; the results, or None
    with ``done.error`` set when the folder cannot be graded. ``settings`` name the rubric and MNIST folder that
    the report notebook loads again."""
    problem = folder_problem(folder, rubric["limits"])
    linked = [path for path in (out, out / "figures") if path.is_symlink()]
    if linked:  # a submission's grading/ made a link would have the grader write wherever it points
        problem = f"{linked[0]} is a link: the grader writes its report there and follows no link"
    if problem:
        done.error = problem
        return None
    results, drawn = grade_and_draw(folder, rubric, refs, figures=out / "figures", identity=identity)
    named = {"rubric_file": settings.rubric, "mnist_dir": settings.mnist_dir}
    again = {key: str(Path(value).resolve()) for key, value in named.items() if value}
    output.write_all(results, rubric.get("lab", "Lab"), folder, out, drawn, **again)
    done.score = sum(r.points for r in results)
    done.max_score = sum(r.max_points for r in results)
    done.verdict = verdict(results)
    done.points = {r.name: r.points for r in results}
    done.statuses = {r.name: r.status for r in results}
    return results


try:
    from distributed import WorkerPlugin
except ImportError:  # pragma: no cover - distributed is a dependency; grading one folder in process needs none
    WorkerPlugin = object


class LoadReferences(WorkerPlugin):
    """Loads the references as each worker starts (and again when a worker is restarted)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def setup(self, worker) -> None:
        worker_references(self.settings)


# On the client ------------------------------------------------------------------------------------------


def local_shape(n_submissions: int, workers: int | None) -> tuple[int, int]:
    """Workers and torch threads per worker for a LocalCluster: one worker per core unless told otherwise
    (never more than there are submissions), the cores shared out among them."""
    cores = os.cpu_count() or 1
    workers = max(1, min(workers or cores, n_submissions))
    return workers, max(1, cores // workers)


def grade_class(
    folders: list[str],
    outs: list[str],
    settings: Settings,
    scheduler: str | None = None,
    workers: int | None = None,
    time_limit: float = 1800.0,
    log=print,
    identities: list[Identity] | None = None,
) -> list[Graded]:
    """Grade every folder on a Dask cluster; the rows come back in the order of ``folders``; ``identities``: whose
    run each is (default nobody's)."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        cluster = None
        try:
            client = Client(scheduler, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError) as err:
            raise ClusterUnavailable(f"cannot reach the Dask scheduler at {scheduler} ({type(err).__name__})") from None
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
        except TimeoutError:
            client.close()
            raise ClusterUnavailable(f"the Dask scheduler at {scheduler} has had no worker for {WORKER_WAIT_SECONDS} s") from None
    else:
        import dask

        n_workers, threads = local_shape(len(folders), workers)
        settings = replace(settings, torch_threads=settings.torch_threads or threads)
        # Dask's default environment for worker processes pins BLAS to one thread and sets MALLOC_TRIM_THRESHOLD_,
        # which costs Inception a fifth of its speed (measured: 5.9 against 7.5 images/s); each worker gets its
        # share of the cores instead
        environ = {name: threads for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        saved = dict(os.environ)  # a nanny reads these from os.environ before its config, and writes them there
        for name in (*environ, "MALLOC_TRIM_THRESHOLD_"):
            os.environ.pop(name, None)
        try:
            with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
                cluster = LocalCluster(
                    n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
                )
        finally:
            os.environ.clear()
            os.environ.update(saved)
        client = Client(cluster)
    try:
        started = time.monotonic()
        try:
            client.register_plugin(LoadReferences(settings), name="grader-references")
        except Exception as err:  # a worker without the grader's files, or another version of them
            raise ClusterUnavailable(f"the workers could not load the grader's references: {one_line(err, 200)}") from None
        described = ", ".join(f"{addr} ({n} thread{'s' * (n > 1)})" for addr, n in sorted(client.nthreads().items()))
        log(f"grading {len(folders)} submissions on {described}; references loaded in {time.monotonic() - started:.1f} s")
        return _run(client, folders, outs, settings, time_limit, identities or [NOBODY] * len(folders))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run(client, folders, outs, settings, time_limit, identities) -> list[Graded]:
    import uuid

    from distributed import wait
    from tqdm import tqdm

    rows: list[Graded | None] = [None] * len(folders)
    waiting = list(range(len(folders)))
    running: dict = {}  # future -> (index, monotonic start)
    counts = Counter()
    batch = uuid.uuid4().hex[:8]  # task keys of their own, should another batch share the scheduler
    bar = tqdm(total=len(folders), unit="submission", desc="grading", file=sys.stderr, disable=None)

    def finish(index: int, graded: Graded) -> None:
        rows[index] = graded
        counts[graded.verdict] += 1
        bar.update(1)
        bar.set_postfix(counts)
        what = f"{graded.verdict} {graded.score:g}/{graded.max_score:g}" if graded.graded else f"NOT GRADED: {graded.error}"
        bar.write(f"{folders[index]}: {what}")

    while waiting or running:
        slots = max(1, sum(client.nthreads().values()))
        while waiting and len(running) < slots:
            index = waiting.pop(0)
            future = client.submit(
                grade_folder, folders[index], outs[index], settings, identities[index], pure=False, key=f"grade-{batch}-{index}"
            )
            running[future] = (index, time.monotonic())
        deadline = min(start for _, start in running.values()) + time_limit
        try:
            wait(list(running), timeout=max(0.1, min(5.0, deadline - time.monotonic())), return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass  # none finished yet: look at the clocks
        for future in [f for f in running if f.done()]:
            index, _ = running.pop(future)
            try:
                finish(index, future.result())
            except Exception as err:  # the worker died or the task was lost: the row says so, the others go on
                finish(index, Graded(folders[index], error=f"grading failed: {one_line(err)}"))
        now = time.monotonic()
        for future in [f for f, (_, start) in running.items() if now - start > time_limit]:
            index, start = running.pop(future)
            holders = [addr for addr, keys in client.processing().items() if future.key in keys]
            future.cancel()
            if holders:
                client.restart_workers(holders, raise_for_error=False)
            finish(
                index,
                Graded(
                    folders[index],
                    error=f"not graded within the time limit of {time_limit:g} s (its worker was restarted)",
                    seconds=now - start,
                ),
            )
    bar.close()
    return rows
