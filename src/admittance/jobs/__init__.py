"""Background jobs: a queue in the database, claimed by workers with leases, resumable by cursor."""

from admittance.jobs.model import Job, JobKind, JobRow, JobStatus
from admittance.jobs.runner import JobRunner
from admittance.jobs.service import JobService

__all__ = ["Job", "JobKind", "JobRow", "JobRunner", "JobService", "JobStatus"]
