"""Background jobs: a queue in the database, claimed by workers with leases, resumable by cursor. The
queue knows no kind of job; contexts name their kinds and the composition root registers handlers."""

from admittance.jobs.model import Job, JobKind, JobRow, JobStatus, RowStatus
from admittance.jobs.runner import JobRunner
from admittance.jobs.service import JobService
from admittance.jobs.store import Advance, JobHandler

__all__ = ["Advance", "Job", "JobHandler", "JobKind", "JobRow", "JobRunner", "JobService", "JobStatus", "RowStatus"]
