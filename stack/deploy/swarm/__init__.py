"""`stack deploy --target swarm`: the plan's services as Docker Swarm services."""
