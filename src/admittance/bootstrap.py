"""The composition root: builds every service from a frozen Settings value. Nothing else wires."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from admittance.broker.cache import LoginCache
from admittance.broker.service import BrokerAuthService
from admittance.claiming.bulk import NRF_BULK_CLAIM, BulkClaimJob, NrfBulkClaims
from admittance.claiming.keys import IdentityKeyService
from admittance.claiming.provisioning import ProvisioningService
from admittance.claiming.service import ClaimingService
from admittance.claiming.verification import ClaimVerifier
from admittance.devices import InventoryService, RegistrationService
from admittance.devices.bulk.engine import BulkImporter
from admittance.devices.bulk.export import ManifestExporter
from admittance.devices.bulk.imports import DEVICE_IMPORT, PASSWORD_WRAP, ImportService
from admittance.devices.bulk.jobs import ImportJob, PasswordWrapJob
from admittance.devices.enrollment import EstService
from admittance.identity import Authenticator, IdentityService
from admittance.identity.authentication import FailureAudit
from admittance.identity.last_seen import LastSeenRecorder
from admittance.identity.mfa import MfaService
from admittance.identity.passwords import ChosenPasswords
from admittance.identity.roles import RoleService
from admittance.identity.service import FirstStart
from admittance.identity.sessions import TOKEN_PREFIX, SessionService
from admittance.identity.users import UserService
from admittance.jobs import JobHandler, JobKind, JobRunner, JobService
from admittance.jobs.wakeup import Wakeup
from admittance.kernel.clock import Clock, SystemClock
from admittance.kernel.passwords import CredentialVerifier, PasswordHasher
from admittance.kernel.sealing import Sealer
from admittance.kernel.secrets import Pepper
from admittance.kernel.storage import Storage
from admittance.maintenance.service import MaintenanceService
from admittance.pki.authority import CertificateAuthority
from admittance.pki.ca import CaError, CaMaterial, load_ca_files
from admittance.pki.issuing import IssuingService
from admittance.pki.revocation import RevocationService
from admittance.pki.trust_store import TrustStoreService
from admittance.registry.service import ClientRegistryService
from admittance.settings import Settings, SettingsError
from admittance.storage import Database, open_database
from admittance.storage.snapshots import SqlMaintenanceStorage
from admittance.storage.sql.broker import SqlBrokerDirectory
from admittance.storage.sql.last_seen import SqlLastSeenStore
from admittance.storage.sql.storage import SqlStorage, SqlUnitOfWork

log = logging.getLogger("admittance")
SECRET_KEY_FILE = "secret.key"  # noqa: S105 - a fixed key for development mode only; production refuses it
# Development mode on PostgreSQL without a key: all processes must agree, so the key is fixed.
_DEV_KEY = "admittance-development-mode-only-key-never-use-in-production"


@dataclass
class Services:
    settings: Settings
    clock: Clock
    database: Database
    storage: SqlStorage
    identity: IdentityService
    registrations: RegistrationService
    inventory: InventoryService
    bulk: BulkImporter
    exporter: ManifestExporter
    jobs: JobService
    imports: ImportService
    runner: JobRunner
    verifier: CredentialVerifier
    users: UserService
    roles: RoleService
    sessions: SessionService
    mfa: MfaService
    broker: BrokerAuthService
    certificates: IssuingService
    revocation: RevocationService
    trust_store: TrustStoreService
    est: EstService
    maintenance: MaintenanceService
    client_registry: ClientRegistryService
    claim_verifier: ClaimVerifier
    identity_keys: IdentityKeyService
    claiming: ClaimingService
    nrf_bulk: NrfBulkClaims
    provisioning: ProvisioningService
    pepper: Pepper  # the server key's keyed hashes, for edges that sign their own values (console cookies)
    authenticator: Authenticator
    last_seen: LastSeenRecorder  # every door records successful authentications here

    async def close(self) -> None:
        await self.last_seen.flush()
        self.runner.close()
        self.verifier.close()
        await self.database.close()


def secret_key(settings: Settings) -> bytes:
    """The pepper: from settings, else (SQLite) generated once into the data folder, mode 0600."""
    if settings.secret_key:
        return settings.secret_key.encode()
    if settings.database.dialect == "postgresql":
        if settings.dev_mode:
            return _DEV_KEY.encode()
        raise SettingsError("ADMITTANCE_SECRET_KEY must be set when the database is PostgreSQL")
    path = Path(settings.data_dir) / SECRET_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip().encode()
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text(encoding="ascii").strip().encode()


async def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    password_hasher: Callable[[Pepper], PasswordHasher] = PasswordHasher,
) -> Services:
    """`password_hasher` makes the password hasher from the server's pepper: argon2id at its
    production cost, unless a caller (the test suite) passes a cheaper one."""
    clock = clock or SystemClock()
    server_key = secret_key(settings)
    pepper = Pepper(server_key)
    database = open_database(settings.database, pool_size=settings.database.pool_size)
    await database.open()
    storage = SqlStorage(database, clock)
    hasher = password_hasher(pepper)
    verifier = CredentialVerifier(hasher, clock, ttl_seconds=settings.auth.verified_cache_seconds)
    authenticator = Authenticator(
        verifier,
        clock,
        settings.auth,
        record_failure=FailureAudit(storage, clock),
    )
    last_seen = LastSeenRecorder(SqlLastSeenStore(database), clock, flush_seconds=settings.last_seen_flush_seconds)
    password_policy = settings.passwords
    passwords = ChosenPasswords(password_policy, verifier, hasher)
    users = UserService(storage, passwords, clock)
    identity = IdentityService(storage, authenticator, verifier, hasher, clock, password_policy)
    sessions = SessionService(
        storage,
        authenticator,
        verifier,
        pepper,
        clock,
        settings.sessions,
        password_policy,
    )
    mfa = MfaService(storage, sessions, authenticator, Sealer(server_key, "totp-secret"), pepper, clock)
    # Rows per import transaction. SQLite writes on the event loop, so a chunk is also how long a
    # poll may wait; 100-row chunks imported as fast as 500-row ones there (50,000 rows: 11.8 s vs
    # 17.2 s). PostgreSQL pays a round trip per statement: 500 rows (20,000: 6.3 s vs 9.3 s at 100).
    chunk_rows = 100 if settings.database.dialect == "sqlite" else 500
    bulk = BulkImporter(storage, hasher, pepper, clock, chunk_rows=chunk_rows)
    wakeup = Wakeup()
    jobs = JobService(storage, clock, wakeup)
    imports = ImportService(storage, bulk, jobs, clock)
    claim_verifier = ClaimVerifier(clock, challenge_seconds=settings.claiming.challenge_seconds)
    authority = CertificateAuthority(
        storage, Sealer(server_key, "ca-key"), clock, settings.pki, imported=operator_ca(settings)
    )
    try:
        await authority.ensure_ca()
    except BaseException:
        await database.close()
        raise
    certificates = IssuingService(storage, authority, clock, authenticator)
    provisioning = ProvisioningService(
        storage, certificates, clock, jwt_max_seconds=settings.claiming.device_jwt_max_seconds
    )
    claiming = ClaimingService(storage, claim_verifier, clock, provisioning)
    runner = JobRunner(
        storage,
        job_handlers(storage, bulk, hasher, clock, imports, claiming),
        clock,
        wakeup=wakeup,
        worker_id=settings.jobs.worker_id,
        lease_seconds=settings.jobs.lease_seconds,
        max_attempts=settings.jobs.max_attempts,
    )
    return Services(
        settings=settings,
        clock=clock,
        database=database,
        storage=storage,
        identity=identity,
        registrations=RegistrationService(
            storage, authenticator, pepper, clock, max_token_failures=settings.registrations.max_token_failures
        ),
        inventory=InventoryService(storage, clock, pepper),
        bulk=bulk,
        exporter=ManifestExporter(storage),
        jobs=jobs,
        imports=imports,
        runner=runner,
        verifier=verifier,
        users=users,
        roles=RoleService(storage, clock),
        sessions=sessions,
        mfa=mfa,
        broker=BrokerAuthService(
            SqlBrokerDirectory(database, clock),
            authenticator,
            clock,
            default_tenant=settings.default_tenant,
            failure_delay_seconds=settings.auth.failure_delay_seconds,
            tokens=sessions,
            token_prefix=TOKEN_PREFIX,
            logins=LoginCache(
                clock,
                ttl_seconds=settings.broker.login_cache_seconds,
                max_entries=settings.broker.login_cache_entries,
            ),
            contacts=last_seen,
        ),
        certificates=certificates,
        revocation=RevocationService(storage, authority, clock),
        trust_store=TrustStoreService(storage, authority, clock),
        est=EstService(storage, certificates, authenticator, pepper, clock),
        maintenance=MaintenanceService(
            SqlMaintenanceStorage(database, settings.database),
            clock,
            backup_dir=settings.backup_path,
            default_tenant=settings.default_tenant,
        ),
        client_registry=ClientRegistryService(
            storage,
            authenticator,
            passwords,
            pepper,
            clock,
            users,
            certificates,
            settings.registry,
        ),
        claim_verifier=claim_verifier,
        identity_keys=IdentityKeyService(storage, claim_verifier, clock),
        claiming=claiming,
        nrf_bulk=NrfBulkClaims(storage, jobs, clock),
        provisioning=provisioning,
        pepper=pepper,
        authenticator=authenticator,
        last_seen=last_seen,
    )


def operator_ca(settings: Settings) -> CaMaterial | None:
    """The operator's CA from the files the settings name (None: the generated one is used)."""
    files = settings.ca_files
    if not files.certificate_file:
        return None
    try:
        return load_ca_files(
            Path(files.certificate_file),
            Path(files.key_file),
            files.key_password or None,
            Path(files.chain_file) if files.chain_file else None,
        )
    except CaError as exc:
        raise SettingsError(str(exc)) from None


def job_handlers(
    storage: Storage[SqlUnitOfWork],
    importer: BulkImporter,
    hasher: PasswordHasher,
    clock: Clock,
    imports: ImportService,
    claiming: ClaimingService,
) -> dict[JobKind, JobHandler]:
    """Every kind of background job this server runs, and the handler that runs it."""
    return {
        DEVICE_IMPORT: ImportJob(storage, importer, imports),
        PASSWORD_WRAP: PasswordWrapJob(storage, hasher, clock, imports),
        NRF_BULK_CLAIM: BulkClaimJob(storage, claiming),
    }


async def first_start(services: Services) -> FirstStart | None:
    settings = services.settings
    return await services.identity.initialize(
        settings.default_tenant, settings.admin_password or None, settings.bootstrap_password or None
    )
