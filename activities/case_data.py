"""Reading the case's configuration and checking its contact data."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import LoadConfigRequest, VerifyRequest
from adapters.config_files import CONFIG_DIR, ConfigError, load_case_config
from domain import contacts
from domain.policy import CaseConfig
from domain.state import VerificationReport


class CaseDataActivities:
    def __init__(self, config_dir=CONFIG_DIR, model_version: Callable[[], str | None] = lambda: None):
        """`model_version`: the propensity model in use now (None: none trained; the rules decide alone)."""
        self.config_dir, self.model_version = config_dir, model_version

    @activity.defn
    async def load_case_config(self, request: LoadConfigRequest) -> CaseConfig:
        """Fixed into the case's history at its start: a later edit of a file changes new cases only."""
        model = self.model_version()
        try:
            return load_case_config(request.policy, request.country, request.extra_packs, self.config_dir,
                                    request.today, request.case_id, model)
        except (ConfigError, ValueError) as e:
            raise ApplicationError(str(e), type="ConfigError", non_retryable=True) from e

    @activity.defn
    async def verify_contact_data(self, request: VerifyRequest) -> VerificationReport:
        """Validity and line type of every number (`phonenumbers`), completeness of the address."""
        return contacts.verify(request.case_id, request.borrower, request.emergency_contacts)

    def all(self) -> list:
        return [self.load_case_config, self.verify_contact_data]
