"""The supervisor console (班长监控台): live figures per line and skill, the agents, calls
per half hour today against yesterday, speech alerts; pause, resume or log out an agent,
restrict a number."""
