"""Call distribution core (话务分配, ACD): agents, skills routing, waiting line, figures.

Telephony-free: the ivr package carries the decisions to Asterisk.
"""

from hotline_core.acd.agents import AgentGroup, AgentState, AgentStatus
from hotline_core.acd.calls import CallMatch, LiveChannel, WaitingCall
from hotline_core.acd.config import (
    DistributionConfig,
    LeaderSeat,
    OverflowRule,
    Priorities,
    Strategy,
    load_distribution_config,
    parse_distribution_config,
)
from hotline_core.acd.distributor import DistributionError, Distributor
from hotline_core.acd.figures import Figures, QueueFigures
from hotline_core.acd.read_models import DistributionView
from hotline_core.acd.restriction import Restriction, RestrictionList
from hotline_core.acd.service import run_distribution_loop

__all__ = [
    "AgentGroup", "AgentState", "AgentStatus", "CallMatch",
    "DistributionConfig", "DistributionError", "DistributionView", "Distributor", "Figures",
    "LeaderSeat",
    "LiveChannel", "OverflowRule", "Priorities", "QueueFigures", "Restriction",
    "RestrictionList", "Strategy", "WaitingCall", "load_distribution_config",
    "parse_distribution_config", "run_distribution_loop",
]
