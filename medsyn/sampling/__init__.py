"""Planning notes: how many per code (allocation), and for each note its symptoms, demographics,
example and template (plan), as a pure function of (run seed, row index, inputs)."""

from medsyn.sampling.allocation import ALLOCATIONS, allocate
from medsyn.sampling.plan import PlanConfig, Planner, build_planner

__all__ = ["ALLOCATIONS", "PlanConfig", "Planner", "allocate", "build_planner"]
