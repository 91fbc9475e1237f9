"""The scheduler: a pure core (filter, score, select over an incremental snapshot) and a
runner that watches unscheduled pods and binds them (design §3.4)."""
