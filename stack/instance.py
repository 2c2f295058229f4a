"""The Asterisk instance described by the settings (ports, lines, agents, secrets)."""

from __future__ import annotations

from pathlib import Path

from hotline_core.agent_directory import load_agents
from hotline_core.lines import load_lines
from hotline_core.transfers import load_centres
from stack.asterisk import AgentPhone, AsteriskSpec
from stack.settings import Settings, sip_password


def spec_from_settings(settings: Settings) -> AsteriskSpec:
    agents = load_agents(settings.agents_file)
    return AsteriskSpec(
        name=settings.instance,
        root=settings.chroot or Path("/"),
        bind_address=settings.bind_address,
        sip_port=settings.sip_port,
        rtp_start=settings.rtp_start,
        rtp_end=settings.rtp_end,
        ami_port=settings.ami_port,
        ami_username=settings.ami_username,
        ami_secret=settings.ami_secret,
        agi_port=settings.agi_port,
        ring_timeout=settings.ring_timeout,
        core_dead_after=settings.core_dead_after,
        carrier_ips=settings.carrier_ips,
        lines=load_lines(settings.lines_file),
        phones=tuple(AgentPhone(a, sip_password(settings.state_dir, a.id)) for a in agents),
        prompts_file=settings.prompts_file,
        prompts_override_dir=settings.prompts_override_dir,
        announce_seconds=settings.announce_seconds,
        carrier_outbound_uri=settings.carrier_outbound_uri,
        centres=load_centres(settings.centres_file, missing_ok=True),
        core_instances=settings.core_instances,
    )
