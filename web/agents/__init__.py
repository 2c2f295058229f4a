"""Agents over HTTP (坐席): states, log in/out, pause with a reason, ready."""
