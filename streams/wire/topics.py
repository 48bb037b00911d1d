"""Names of the public topics (a contract) and of the hub's internal ones."""

from collections.abc import Iterator

INTERACTIONS = "touchline.interactions.v1"
CAMPAIGN_TARGETS = "touchline.campaign-targets.v1"
SUPPRESSIONS = "touchline.suppressions.v1"
DIAL_LIST = "touchline.dial-list.v1"
INTERACTIONS_DLQ = "touchline.interactions.dlq.v1"
# Contact policies keyed by campaign id, and do-not-contact entries keyed by `kind:value`.
POLICIES = "touchline.policies.v1"
DNC = "touchline.dnc.v1"

PUBLIC_TOPICS = (
    INTERACTIONS,
    CAMPAIGN_TARGETS,
    SUPPRESSIONS,
    DIAL_LIST,
    INTERACTIONS_DLQ,
    POLICIES,
    DNC,
)
COMPACTED_TOPICS = frozenset({DIAL_LIST, POLICIES, DNC})

# Internal: identity links and lookups keyed by the identity, and the commands
# re-keyed by customer id for the customer agent. Prefixed by the app id.
IDENTITY_SUFFIX = "identity"
CUSTOMER_COMMANDS_SUFFIX = "customer-commands"
# Screen pops, keyed by agent id; every worker reads them all to reach any agent's browser.
SCREEN_POPS_SUFFIX = "screen-pops"
# The name index behind search: name token → the customers whose name has it (JSON).
NAME_INDEX_SUFFIX = "name-index"


class InternalTopics:
    """The internal topics of one hub (one app id)."""

    def __init__(self, app_id: str) -> None:
        self.identity = f"{app_id}-{IDENTITY_SUFFIX}"
        self.customer_commands = f"{app_id}-{CUSTOMER_COMMANDS_SUFFIX}"
        self.screen_pops = f"{app_id}-{SCREEN_POPS_SUFFIX}"
        self.name_index = f"{app_id}-{NAME_INDEX_SUFFIX}"

    def __iter__(self) -> Iterator[str]:
        return iter((self.identity, self.customer_commands, self.screen_pops, self.name_index))
