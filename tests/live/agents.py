"""Agents sign in the way the console does it: queues.conf has no members, so an agent
takes calls only after an AMI QueueAdd (dynamic member) on the interface they sit at."""

from __future__ import annotations


def sign_in(live, interface: str, queue: str, *, name: str, penalty: int = 0) -> None:
    """QueueAdd as the AMI listener sends it for the console (unpaused); signing in twice
    is harmless (Asterisk answers "Already there")."""
    reply = live.ami.action("QueueAdd", Queue=queue, Interface=interface, MemberName=name,
                            StateInterface=interface, Penalty=str(penalty), Paused="false")
    assert reply.get("Response") == "Success" or "Already there" in reply.get("Message"), reply
