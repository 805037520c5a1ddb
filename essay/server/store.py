"""What the server keeps (SQLAlchemy on SQLite under ``.essay/server/``, shared by the
server and its workers on this machine): users, API tokens, jobs and their logs, webhook
deliveries and failed logins. A restart keeps all of it."""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from pathlib import Path

from sqlalchemy import (Float, ForeignKey, Integer, String, Text, create_engine, event,
                        func, select, update)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from essay.server.settings import ROLES

ACTIVE = ("queued", "running")


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    pw_hash: Mapped[str] = mapped_column(String(256))

    # Flask-Login's user protocol
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self):
        return str(self.id)

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the token


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    env: Mapped[str] = mapped_column(String(64), default="")
    params: Mapped[str] = mapped_column(Text, default="{}")
    summary: Mapped[str] = mapped_column(Text, default="")
    who: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    created: Mapped[float] = mapped_column(Float)
    started: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished: Mapped[float | None] = mapped_column(Float, nullable=True)
    worker: Mapped[str] = mapped_column(String(128), default="")
    heartbeat: Mapped[float | None] = mapped_column(Float, nullable=True)
    outcome: Mapped[str] = mapped_column(Text, default="")

    @property
    def args(self) -> dict:
        return json.loads(self.params or "{}")


class Line(Base):
    __tablename__ = "job_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    ts: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)


class Delivery(Base):
    __tablename__ = "deliveries"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # provider:delivery id
    received: Mapped[float] = mapped_column(Float)


class LoginFailure(Base):
    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    ts: Mapped[float] = mapped_column(Float)


class Store:
    def __init__(self, url: str):
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(self.engine, "connect")
        def _pragmas(conn, _):   # several processes (server, workers) share the file
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")

        Base.metadata.create_all(self.engine)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- users and tokens ----------------------------------------------------------------
    def add_user(self, name: str, role: str, password: str) -> bool:
        """Add or update a user; True if it was new."""
        with self.session() as s, s.begin():
            user = s.scalar(select(User).where(User.name == name))
            new = user is None
            user = user or User(name=name)
            user.role, user.pw_hash = role, generate_password_hash(password)
            s.add(user)
        return new

    def user(self, user_id) -> User | None:
        with self.session() as s:
            return s.get(User, int(user_id))

    def check_password(self, name: str, password: str) -> User | None:
        with self.session() as s:
            user = s.scalar(select(User).where(User.name == name))
        if user is None:
            check_password_hash(generate_password_hash("x"), password)  # same time either way
            return None
        return user if check_password_hash(user.pw_hash, password) else None

    def add_token(self, name: str, role: str) -> str:
        token = secrets.token_urlsafe(32)
        with self.session() as s, s.begin():
            s.add(Token(name=name, role=role, digest=hashlib.sha256(token.encode()).hexdigest()))
        return token

    def token(self, token: str) -> Token | None:
        with self.session() as s:
            return s.scalar(select(Token).where(
                Token.digest == hashlib.sha256(token.encode()).hexdigest()))

    # -- login throttling ----------------------------------------------------------------
    def failures(self, key: str, window: float) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(LoginFailure).where(
                LoginFailure.key == key, LoginFailure.ts > time.time() - window)) or 0

    def fail_login(self, key: str):
        with self.session() as s, s.begin():
            s.add(LoginFailure(key=key, ts=time.time()))

    # -- webhook deliveries ----------------------------------------------------------------
    def first_delivery(self, delivery: str) -> bool:
        """Record a delivery id; False if it was seen before (a replay)."""
        with self.session() as s, s.begin():
            if s.get(Delivery, delivery) is not None:
                return False
            s.add(Delivery(id=delivery, received=time.time()))
        return True

    # -- jobs ------------------------------------------------------------------------------
    def add_job(self, kind: str, env: str, params: dict, summary: str, who: str) -> Job:
        with self.session() as s, s.begin():
            job = Job(kind=kind, env=env, params=json.dumps(params), summary=summary, who=who,
                      created=time.time())
            s.add(job)
        return job

    def job(self, job_id: int) -> Job | None:
        with self.session() as s:
            return s.get(Job, job_id)

    def jobs(self, limit: int = 100, env: str | None = None, state: str | None = None):
        q = select(Job).order_by(Job.id.desc()).limit(limit)
        if env is not None:
            q = q.where(Job.env == env)
        if state:
            q = q.where(Job.state == state)
        with self.session() as s:
            return list(s.scalars(q))

    def claim(self, job_id: int, worker: str) -> bool:
        """Start the job if it is its environment's turn: no job of that environment
        running and no older one queued. The check and the start are one transaction,
        begun with ``BEGIN IMMEDIATE`` (SQLite's write lock from its first statement; pysqlite
        alone would begin only at the UPDATE), so two workers cannot both win."""
        with self.session() as s:
            s.connection().exec_driver_sql("BEGIN IMMEDIATE")
            job = s.get(Job, job_id)
            if job is None or job.state != "queued" or s.scalar(
                    select(func.count()).select_from(Job).where(
                        Job.env == job.env, Job.id != job.id,
                        (Job.state == "running") | ((Job.state == "queued") &
                                                    (Job.id < job.id)))):
                return False   # leaving the block rolls the transaction back
            job.state, job.started = "running", time.time()
            job.heartbeat, job.worker = job.started, worker
            s.commit()
            return True

    def next_queued(self, env: str) -> int | None:
        """The oldest queued job of ``env``: the one whose turn is next."""
        with self.session() as s:
            return s.scalar(select(func.min(Job.id)).where(Job.env == env,
                                                           Job.state == "queued"))

    def beat(self, job_id: int, worker: str | None = None) -> bool:
        """``worker`` is alive and the running job is still its own; without a worker: the
        queue looked at the waiting job. False when no row matched (the job is not, or no
        longer, in that state: e.g. it was marked lost)."""
        where = (Job.state == "running", Job.worker == worker) if worker else \
            (Job.state == "queued",)
        with self.session() as s, s.begin():
            return bool(s.execute(update(Job).where(Job.id == job_id, *where)
                                  .values(heartbeat=time.time())).rowcount)

    def finish(self, job_id: int, state: str, outcome: str):
        with self.session() as s, s.begin():
            s.execute(update(Job).where(Job.id == job_id, Job.state.in_(ACTIVE))
                      .values(state=state, outcome=outcome, finished=time.time()))

    def cancel(self, job_id: int, who: str) -> bool:
        """A queued job is cancelled (it will never run); False if it is not queued (it
        runs, or it ended). One UPDATE: a worker's :meth:`claim` of it cannot also win."""
        with self.session() as s, s.begin():
            return bool(s.execute(update(Job).where(Job.id == job_id, Job.state == "queued")
                                  .values(state="cancelled", finished=time.time(),
                                          outcome=f"cancelled by {who}")).rowcount)

    def silent(self, after: float) -> list[Job]:
        """Running jobs whose worker has not beaten for ``after`` seconds. Whether one is
        lost is the caller's judgement (:func:`essay.server.jobs.sweep`): a worker can be
        slow (a busy SQLite, a paused process) without being dead."""
        with self.session() as s:
            return list(s.scalars(select(Job).where(Job.state == "running",
                                                    Job.heartbeat < time.time() - after)))

    def lose(self, job: Job, why: str) -> bool:
        """Mark a silent job (as :meth:`silent` read it) lost; False if it beat since, or
        ended: then it is not lost."""
        with self.session() as s, s.begin():
            return bool(s.execute(update(Job).where(
                Job.id == job.id, Job.state == "running", Job.heartbeat == job.heartbeat)
                .values(state="lost", finished=time.time(), outcome=f"lost: {why}")).rowcount)

    def log(self, job_id: int, text: str):
        with self.session() as s, s.begin():
            s.add(Line(job_id=job_id, ts=time.time(), text=text))

    def lines(self, job_id: int, after: int = 0) -> list[Line]:
        with self.session() as s:
            return list(s.scalars(select(Line).where(Line.job_id == job_id, Line.id > after)
                                  .order_by(Line.id)))
